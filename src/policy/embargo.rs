//! Embargo instants and limits: reading an end as people write it (always with an
//! offset or an IANA zone: a naive time is ambiguous across the team and the
//! researcher, CERT/CC's VINCE confused people exactly so), showing it in its zone and
//! in UTC, the longest embargo the policy allows, and why an embargo is exited early.
//! Pure functions: no store, no clock but the one passed in.

use chrono::{DateTime, FixedOffset, NaiveDateTime, Offset, TimeZone, Utc};
use serde::{Deserialize, Serialize};

/// The forms an instant may be written in, for error messages and `--help`.
pub(crate) const ACCEPTED_FORMS: &str = "2027-01-15T09:00+01:00, 2027-01-15T08:00Z, \
     2027-01-15 09:00 Europe/Berlin or 2027-01-15 09:00 +01:00";

/// An instant as someone gave it: the moment in UTC and the zone they wrote it in
/// (an IANA name such as `Europe/Berlin`, an offset such as `+01:00`, or `UTC`), so it
/// is shown back as they meant it and in UTC.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ZonedInstant {
    pub at: DateTime<Utc>,
    pub zone: String,
}

impl ZonedInstant {
    /// Reads an instant that carries its zone; a naive one (no offset, no zone) is
    /// refused with the accepted forms, and so is a local time that a DST change
    /// skips or repeats in that zone.
    pub fn parse(text: &str) -> Result<ZonedInstant, String> {
        let text = text.trim();
        let refuse = |why: &str| {
            Err(format!(
                "{text:?} {why}: write the date and time with an offset or an IANA time zone, e.g. {ACCEPTED_FORMS}"
            ))
        };
        if text.is_empty() {
            return refuse("is empty");
        }
        let words: Vec<&str> = text.split_whitespace().collect();
        // "DATE TIME ZONE": the last word names the zone.
        if let [date, time, zone] = words.as_slice() {
            let Some(naive) = naive(&format!("{date}T{time}")) else {
                return refuse("is not a date and time");
            };
            return Self::in_zone(naive, zone).or_else(|why| refuse(&why));
        }
        // "DATETIME ZONE" with a T, or "DATE TIME" whose time carries an offset.
        if let [first, second] = words.as_slice() {
            if let Some(naive) = naive(first) {
                return Self::in_zone(naive, second).or_else(|why| refuse(&why));
            }
            return match with_offset(&format!("{first}T{second}")) {
                Some(i) => Ok(i),
                None if naive(&format!("{first}T{second}")).is_some() => refuse("has no time zone"),
                None => refuse("is not a date and time"),
            };
        }
        if let [one] = words.as_slice() {
            if let Some(i) = with_offset(one) {
                return Ok(i);
            }
            if naive(one).is_some() || chrono::NaiveDate::parse_from_str(one, "%Y-%m-%d").is_ok() {
                return refuse("has no time zone");
            }
        }
        refuse("is not a date and time")
    }

    /// A local time in a zone: an IANA name, `UTC`/`Z`, or an offset.
    fn in_zone(naive: NaiveDateTime, zone: &str) -> Result<ZonedInstant, String> {
        if zone.eq_ignore_ascii_case("utc") || zone.eq_ignore_ascii_case("z") {
            return Ok(ZonedInstant {
                at: naive.and_utc(),
                zone: "UTC".into(),
            });
        }
        if let Some(offset) = offset(zone) {
            return offset
                .from_local_datetime(&naive)
                .single()
                .map(|t| ZonedInstant {
                    at: t.with_timezone(&Utc),
                    zone: offset.to_string(),
                })
                .ok_or_else(|| "is out of range".to_string());
        }
        let tz: chrono_tz::Tz = zone
            .parse()
            .map_err(|_| format!("names {zone:?}, which is not an IANA time zone or an offset"))?;
        match tz.from_local_datetime(&naive) {
            chrono::LocalResult::Single(t) => Ok(ZonedInstant {
                at: t.with_timezone(&Utc),
                zone: tz.name().to_string(),
            }),
            chrono::LocalResult::Ambiguous(a, b) => Err(format!(
                "happens twice in {zone} (the clocks go back): give the offset, {} or {}",
                a.offset().fix(),
                b.offset().fix()
            )),
            chrono::LocalResult::None => Err(format!(
                "does not exist in {zone} (the clocks go forward over it)"
            )),
        }
    }

    /// As people read it: the time in its own zone, then in UTC unless that is its
    /// zone: `2027-01-15 09:00 Europe/Berlin (2027-01-15 08:00 UTC)`.
    pub fn display(&self) -> String {
        let utc = crate::policy::human_time(self.at);
        if self.zone == "UTC" {
            return utc;
        }
        let local = match (self.zone.parse::<chrono_tz::Tz>(), offset(&self.zone)) {
            (Ok(tz), _) => self
                .at
                .with_timezone(&tz)
                .format("%Y-%m-%d %H:%M")
                .to_string(),
            (_, Some(off)) => self
                .at
                .with_timezone(&off)
                .format("%Y-%m-%d %H:%M")
                .to_string(),
            _ => return utc,
        };
        format!("{local} {} ({utc})", self.zone)
    }
}

/// A date and time without zone: `2027-01-15T09:00` or with seconds.
fn naive(text: &str) -> Option<NaiveDateTime> {
    ["%Y-%m-%dT%H:%M", "%Y-%m-%dT%H:%M:%S"]
        .iter()
        .find_map(|f| NaiveDateTime::parse_from_str(text, f).ok())
}

/// An offset as written after a time: `+01:00`, `-0500`, `+01`.
fn offset(text: &str) -> Option<FixedOffset> {
    let sign = match text.chars().next()? {
        '+' => 1,
        '-' => -1,
        _ => return None,
    };
    let digits: String = text.get(1..)?.chars().filter(|c| *c != ':').collect();
    if !digits.bytes().all(|b| b.is_ascii_digit()) || !matches!(digits.len(), 2 | 4) {
        return None;
    }
    let hours: i32 = digits.get(..2)?.parse().ok()?;
    let minutes: i32 = digits
        .get(2..)
        .filter(|m| !m.is_empty())
        .map_or(Some(0), |m| m.parse().ok())?;
    if hours > 18 || minutes > 59 {
        return None;
    }
    FixedOffset::east_opt(sign * (hours * 3600 + minutes * 60))
}

/// `2027-01-15T09:00+01:00`, `2027-01-15T08:00:00Z`: a date and time whose offset
/// follows it directly.
fn with_offset(text: &str) -> Option<ZonedInstant> {
    if let Some(base) = text.strip_suffix(['Z', 'z']) {
        return naive(base).map(|n| ZonedInstant {
            at: n.and_utc(),
            zone: "UTC".into(),
        });
    }
    // The offset starts at the last + or - after the time's colon.
    let colon = text.find(':')?;
    let split = text.get(colon..)?.rfind(['+', '-'])? + colon;
    let (base, off) = (text.get(..split)?, text.get(split..)?);
    let n = naive(base)?;
    let off = offset(off)?;
    off.from_local_datetime(&n).single().map(|t| ZonedInstant {
        at: t.with_timezone(&Utc),
        zone: off.to_string(),
    })
}

/// The longest embargo the policy allows (`policy.embargo.max_length`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum EmbargoLimit {
    /// "90+30" (Google Project Zero): at most `days` after receipt, or, for a report
    /// fixed within them, up to `after_fix` days after the fix.
    AfterFix { days: u32, after_fix: u32 },
    /// "45 days" (CERT/CC) or a duration: at most that long after receipt.
    Within(std::time::Duration),
    /// No maximum.
    Off,
}

impl std::str::FromStr for EmbargoLimit {
    type Err = String;

    fn from_str(s: &str) -> Result<EmbargoLimit, String> {
        let s = s.trim();
        let bad = || {
            format!(
                "{s:?} is not an embargo limit: \"90+30\" (90 days, or 30 days after a fix \
                 made within them), \"45 days\", a duration such as \"60d\", or \"off\""
            )
        };
        if s.eq_ignore_ascii_case("off") {
            return Ok(EmbargoLimit::Off);
        }
        if let Some((days, after)) = s.split_once('+') {
            let days: u32 = days.trim().parse().map_err(|_| bad())?;
            let after_fix: u32 = after.trim().parse().map_err(|_| bad())?;
            if days == 0 || days > 3660 || after_fix > 3660 {
                return Err(bad());
            }
            return Ok(EmbargoLimit::AfterFix { days, after_fix });
        }
        let d = humantime::parse_duration(s).map_err(|_| bad())?;
        if d.is_zero() || d.as_secs() > 10 * 366 * 86_400 {
            return Err(bad());
        }
        Ok(EmbargoLimit::Within(d))
    }
}

impl EmbargoLimit {
    /// The latest end an embargo may have for a report received at `received` and
    /// fixed at `fixed` (if it was); `None` when there is no maximum.
    pub fn latest_end(
        self,
        received: DateTime<Utc>,
        fixed: Option<DateTime<Utc>>,
    ) -> Option<DateTime<Utc>> {
        match self {
            EmbargoLimit::Off => None,
            EmbargoLimit::Within(d) => Some(received + crate::policy::chrono_duration(d)),
            EmbargoLimit::AfterFix { days, after_fix } => {
                let base = received + chrono::Duration::days(i64::from(days));
                Some(match fixed {
                    Some(f) if f <= base => {
                        base.max(f + chrono::Duration::days(i64::from(after_fix)))
                    }
                    _ => base,
                })
            }
        }
    }

    /// As the policy states it, for messages.
    pub fn describe(self) -> String {
        match self {
            EmbargoLimit::Off => "no maximum".into(),
            EmbargoLimit::Within(d) => {
                format!("{} after receipt", crate::policy::human_duration(d))
            }
            EmbargoLimit::AfterFix { days, after_fix } => format!(
                "{days} days after receipt, or {after_fix} days after a fix made within them"
            ),
        }
    }
}

/// Why an embargo ended before its time (CERT/CC Vultron's early termination).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ExitReason {
    /// The vulnerability became public (an embargo SHALL end then).
    Public,
    /// Exploit code is public.
    ExploitPublic,
    /// It is exploited in the wild.
    Exploited,
    /// Both sides agreed to end it (the fix is out, say).
    Agreed,
}

impl ExitReason {
    pub const ALL: [ExitReason; 4] = [
        ExitReason::Public,
        ExitReason::ExploitPublic,
        ExitReason::Exploited,
        ExitReason::Agreed,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            ExitReason::Public => "public",
            ExitReason::ExploitPublic => "exploit_public",
            ExitReason::Exploited => "exploited",
            ExitReason::Agreed => "agreed",
        }
    }

    /// A sentence for the researcher.
    pub fn explain(self) -> &'static str {
        match self {
            ExitReason::Public => "the vulnerability became public",
            ExitReason::ExploitPublic => "exploit code became public",
            ExitReason::Exploited => "it is being exploited",
            ExitReason::Agreed => "both sides agreed to end it",
        }
    }
}

impl std::str::FromStr for ExitReason {
    type Err = String;

    fn from_str(s: &str) -> Result<ExitReason, String> {
        ExitReason::ALL
            .into_iter()
            .find(|r| r.as_str().eq_ignore_ascii_case(s.trim()))
            .ok_or_else(|| {
                format!(
                    "{s:?} is not a reason to exit an embargo ({})",
                    ExitReason::ALL.map(ExitReason::as_str).join(", ")
                )
            })
    }
}

/// The end of an embargo a researcher proposes in a report or a signed follow-up:
/// the first line labelled `Disclosure date:`, `Embargo:`, `Embargo until:` or
/// `Proposed disclosure date:` outside quoted text. `None`: no such line;
/// `Some(Err)`: one that cannot be read (a naive time, say), with why.
pub(crate) fn proposed_in(text: &str) -> Option<Result<ZonedInstant, String>> {
    const LABELS: [&str; 5] = [
        "disclosure date",
        "proposed disclosure date",
        "embargo",
        "embargo until",
        "embargo end",
    ];
    text.lines()
        .map(str::trim)
        .filter(|l| !l.starts_with('>'))
        .find_map(|line| {
            let (label, value) = line.split_once(':')?;
            let label = label.trim().to_lowercase();
            LABELS
                .contains(&label.as_str())
                .then(|| ZonedInstant::parse(value))
        })
}

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::indexing_slicing, clippy::panic)]
mod tests {
    use super::*;

    fn utc(s: &str) -> DateTime<Utc> {
        DateTime::parse_from_rfc3339(s).unwrap().with_timezone(&Utc)
    }

    #[test]
    fn instants_need_an_offset_or_a_zone() {
        for (text, at, zone) in [
            ("2027-01-15T09:00+01:00", "2027-01-15T08:00:00Z", "+01:00"),
            ("2027-01-15T09:00:30+0100", "2027-01-15T08:00:30Z", "+01:00"),
            ("2027-01-15T08:00Z", "2027-01-15T08:00:00Z", "UTC"),
            ("2027-01-15 09:00-05:00", "2027-01-15T14:00:00Z", "-05:00"),
            (
                "2027-01-15 09:00 Europe/Berlin",
                "2027-01-15T08:00:00Z",
                "Europe/Berlin",
            ),
            (
                "2027-07-15 09:00 Europe/Berlin",
                "2027-07-15T07:00:00Z",
                "Europe/Berlin",
            ),
            (
                "2027-01-15T09:00 America/New_York",
                "2027-01-15T14:00:00Z",
                "America/New_York",
            ),
            ("2027-01-15 09:00 UTC", "2027-01-15T09:00:00Z", "UTC"),
            ("2027-01-15 09:00 +05:30", "2027-01-15T03:30:00Z", "+05:30"),
            // A leap day.
            (
                "2028-02-29 12:00 Europe/Berlin",
                "2028-02-29T11:00:00Z",
                "Europe/Berlin",
            ),
        ] {
            let i = ZonedInstant::parse(text).unwrap_or_else(|e| panic!("{text}: {e}"));
            assert_eq!(i.at, utc(at), "{text}");
            assert_eq!(i.zone, zone, "{text}");
        }
        for naive in ["2027-01-15 09:00", "2027-01-15T09:00", "2027-01-15"] {
            let e = ZonedInstant::parse(naive).unwrap_err();
            assert!(e.contains("has no time zone"), "{naive}: {e}");
            assert!(e.contains("Europe/Berlin"), "the accepted forms: {e}");
        }
        for bad in [
            "soon",
            "2027-02-30 09:00 UTC",
            "2027-01-15 09:00 Mars/Olympus",
            "",
        ] {
            assert!(ZonedInstant::parse(bad).is_err(), "{bad}");
        }
        // 02:30 does not exist in Berlin on 2027-03-28; 02:30 on 2027-10-31 exists twice.
        let e = ZonedInstant::parse("2027-03-28 02:30 Europe/Berlin").unwrap_err();
        assert!(e.contains("does not exist"), "{e}");
        let e = ZonedInstant::parse("2027-10-31 02:30 Europe/Berlin").unwrap_err();
        assert!(e.contains("+02:00") && e.contains("+01:00"), "{e}");
    }

    #[test]
    fn instants_are_shown_in_their_zone_and_in_utc() {
        let i = ZonedInstant::parse("2027-01-15 09:00 Europe/Berlin").unwrap();
        assert_eq!(
            i.display(),
            "2027-01-15 09:00 Europe/Berlin (2027-01-15 08:00 UTC)"
        );
        let i = ZonedInstant::parse("2027-01-15T09:00-05:00").unwrap();
        assert_eq!(
            i.display(),
            "2027-01-15 09:00 -05:00 (2027-01-15 14:00 UTC)"
        );
        let i = ZonedInstant::parse("2027-01-15T09:00Z").unwrap();
        assert_eq!(i.display(), "2027-01-15 09:00 UTC");
    }

    #[test]
    fn limits_follow_the_presets() {
        let received = utc("2027-01-01T00:00:00Z");
        let p0: EmbargoLimit = "90+30".parse().unwrap();
        assert_eq!(
            p0.latest_end(received, None),
            Some(utc("2027-04-01T00:00:00Z"))
        );
        // Fixed on day 80: 30 days after the fix, day 110.
        let fixed = utc("2027-03-22T00:00:00Z");
        assert_eq!(
            p0.latest_end(received, Some(fixed)),
            Some(utc("2027-04-21T00:00:00Z"))
        );
        // Fixed on day 10: still day 90, the later of the two.
        let early = utc("2027-01-11T00:00:00Z");
        assert_eq!(
            p0.latest_end(received, Some(early)),
            Some(utc("2027-04-01T00:00:00Z"))
        );
        // Fixed after day 90: no extension.
        let late = utc("2027-05-01T00:00:00Z");
        assert_eq!(
            p0.latest_end(received, Some(late)),
            Some(utc("2027-04-01T00:00:00Z"))
        );
        let cert: EmbargoLimit = "45 days".parse().unwrap();
        assert_eq!(
            cert.latest_end(received, None),
            Some(utc("2027-02-15T00:00:00Z"))
        );
        let custom: EmbargoLimit = "60d".parse().unwrap();
        assert_eq!(
            custom.latest_end(received, None),
            Some(utc("2027-03-02T00:00:00Z"))
        );
        assert_eq!(
            "off"
                .parse::<EmbargoLimit>()
                .unwrap()
                .latest_end(received, None),
            None
        );
        for bad in ["ninety", "0+30", "0s", "90+x"] {
            assert!(bad.parse::<EmbargoLimit>().is_err(), "{bad}");
        }
    }

    #[test]
    fn a_proposal_is_read_from_a_labelled_line_outside_quotes() {
        let text = "> Disclosure date: 2020-01-01T00:00Z\nHello,\nDisclosure date: 2027-01-15 09:00 Europe/Berlin\n";
        let found = proposed_in(text).unwrap().unwrap();
        assert_eq!(found.at, utc("2027-01-15T08:00:00Z"));
        assert!(proposed_in("Embargo: 2027-01-15").unwrap().is_err());
        assert!(proposed_in("no date here").is_none());
    }
}
