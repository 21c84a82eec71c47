//! What an advisory needs beyond the report, in the shapes the store keeps: the checks
//! of the advisory details maintainers set (package, ecosystem, PURL, references,
//! publication date, corrected affected ranges), and the credit the researcher chose.
//! Plain data and parsing; the formats themselves are in `crate::advisory`.

use chrono::{DateTime, NaiveDate, Utc};
use serde::{Deserialize, Serialize};

use crate::extract::AffectedRange;

/// The OSV 1.7 ecosystems (`ecosystemName` in the schema); a `:suffix` (a release,
/// `Debian:12`) may follow.
pub(crate) const ECOSYSTEMS: &[&str] = &[
    "AlmaLinux",
    "Alpaquita",
    "Alpine",
    "Android",
    "Azure Linux",
    "BellSoft Hardened Containers",
    "Bioconductor",
    "Bitnami",
    "Chainguard",
    "CleanStart",
    "ConanCenter",
    "CRAN",
    "crates.io",
    "Debian",
    "Docker Hardened Images",
    "Echo",
    "FreeBSD",
    "GHC",
    "GitHub Actions",
    "Go",
    "Hackage",
    "Hex",
    "Julia",
    "Kubernetes",
    "Linux",
    "Mageia",
    "Maven",
    "MinimOS",
    "npm",
    "NuGet",
    "opam",
    "openEuler",
    "openSUSE",
    "OSS-Fuzz",
    "Packagist",
    "Photon OS",
    "Pub",
    "PyPI",
    "Red Hat",
    "Rocky Linux",
    "Root",
    "RubyGems",
    "SUSE",
    "SwiftURL",
    "TuxCare",
    "Ubuntu",
    "VSCode",
    "Wolfi",
];

/// An ecosystem as given, in the schema's spelling (any case is accepted).
pub(crate) fn check_ecosystem(value: &str) -> Result<String, String> {
    let (name, suffix) = match value.split_once(':') {
        Some((n, s)) => (n, Some(s)),
        None => (value, None),
    };
    let Some(known) = ECOSYSTEMS
        .iter()
        .find(|e| e.eq_ignore_ascii_case(name.trim()))
    else {
        return Err(format!(
            "{value:?} is not an OSV ecosystem (e.g. crates.io, PyPI, npm, Go, Maven, Debian)"
        ));
    };
    match suffix.map(str::trim) {
        Some("") => Err(format!("{value:?}: nothing after the colon")),
        Some(s) => Ok(format!("{known}:{s}")),
        None => Ok((*known).to_string()),
    }
}

/// A package URL: `pkg:TYPE/NAME...`, the type of letters, digits, `.+-`.
pub(crate) fn check_purl(value: &str) -> Result<String, String> {
    let bad = || format!("{value:?} is not a package URL (pkg:TYPE/NAME, e.g. pkg:cargo/foo)");
    let rest = value
        .get(..4)
        .filter(|p| p.eq_ignore_ascii_case("pkg:"))
        .and_then(|_| value.get(4..))
        .ok_or_else(bad)?;
    let (kind, name) = rest
        .trim_start_matches('/')
        .split_once('/')
        .ok_or_else(bad)?;
    let kind_ok = kind.chars().next().is_some_and(|c| c.is_ascii_alphabetic())
        && kind
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, '.' | '+' | '-'));
    if !kind_ok || name.is_empty() || value.contains(char::is_whitespace) {
        return Err(bad());
    }
    Ok(format!("pkg:{}/{name}", kind.to_ascii_lowercase()))
}

/// References: http(s) URLs separated by spaces or commas, kept as one line with
/// single spaces.
pub(crate) fn check_references(value: &str) -> Result<String, String> {
    let urls: Vec<&str> = value
        .split(|c: char| c.is_whitespace() || c == ',')
        .filter(|u| !u.is_empty())
        .collect();
    for u in &urls {
        let lower = u.to_ascii_lowercase();
        let host = lower
            .strip_prefix("https://")
            .or_else(|| lower.strip_prefix("http://"))
            .unwrap_or_default();
        if host.is_empty() || host.starts_with('/') {
            return Err(format!(
                "{u:?} is not a web address (https://..., separated by spaces)"
            ));
        }
    }
    let mut unique: Vec<&str> = Vec::new();
    for u in urls {
        if !unique.contains(&u) {
            unique.push(u);
        }
    }
    Ok(unique.join(" "))
}

/// Fixed versions: separated by commas (or spaces), kept as `a, b`.
pub(crate) fn check_versions(value: &str) -> Result<String, String> {
    let versions: Vec<&str> = value
        .split(|c: char| c.is_whitespace() || c == ',')
        .filter(|v| !v.is_empty())
        .collect();
    Ok(versions.join(", "))
}

/// A publication date: `YYYY-MM-DD` (midnight UTC) or an RFC 3339 time with its
/// offset; kept as RFC 3339 in UTC (`...Z`). A time without a zone is refused: it
/// would mean a different instant to each reader.
pub(crate) fn check_date(value: &str) -> Result<String, String> {
    parse_date(value)
        .map(|d| d.to_rfc3339_opts(chrono::SecondsFormat::Secs, true))
        .ok_or_else(|| {
            format!(
                "{value:?} is not a date (YYYY-MM-DD, or YYYY-MM-DDTHH:MM:SSZ / with an offset)"
            )
        })
}

/// A date as [`check_date`] accepts it.
pub(crate) fn parse_date(value: &str) -> Option<DateTime<Utc>> {
    let value = value.trim();
    if let Ok(t) = DateTime::parse_from_rfc3339(value) {
        return Some(t.with_timezone(&Utc));
    }
    NaiveDate::parse_from_str(value, "%Y-%m-%d")
        .ok()
        .and_then(|d| d.and_hms_opt(0, 0, 0))
        .map(|t| t.and_utc())
}

/// Corrected affected ranges: ranges separated by `;`, each `introduced=V`,
/// `fixed=V`, `last_affected=V` separated by spaces or commas, e.g.
/// `introduced=1.0 fixed=1.4; introduced=2.0 last_affected=2.3`. Kept in that
/// canonical form.
pub(crate) fn check_ranges(value: &str) -> Result<String, String> {
    let ranges = parse_ranges(value)?;
    Ok(ranges
        .iter()
        .map(|r| r.text.clone())
        .collect::<Vec<_>>()
        .join("; "))
}

/// The ranges of a value [`check_ranges`] accepted (`text` is each in canonical form).
pub(crate) fn parse_ranges(value: &str) -> Result<Vec<AffectedRange>, String> {
    let mut out = Vec::new();
    for part in value.split(';').map(str::trim).filter(|p| !p.is_empty()) {
        let mut r = AffectedRange::default();
        for item in part
            .split(|c: char| c.is_whitespace() || c == ',')
            .filter(|i| !i.is_empty())
        {
            let (key, v) = item.split_once('=').ok_or_else(|| {
                format!(
                    "{item:?}: a range is introduced=V, fixed=V or last_affected=V (e.g. introduced=1.0 fixed=1.4)"
                )
            })?;
            if v.is_empty() {
                return Err(format!("{item:?}: no version"));
            }
            let slot = match key.to_ascii_lowercase().replace('-', "_").as_str() {
                "introduced" => &mut r.introduced,
                "fixed" => &mut r.fixed,
                "last_affected" => &mut r.last_affected,
                other => {
                    return Err(format!(
                        "{other:?} is not introduced, fixed or last_affected"
                    ));
                }
            };
            if slot.replace(v.to_string()).is_some() {
                return Err(format!("{part:?}: {key} given twice"));
            }
        }
        if r.fixed.is_some() && r.last_affected.is_some() {
            return Err(format!(
                "{part:?}: a range ends with fixed or with last_affected, not both"
            ));
        }
        if r.introduced.is_none() && r.fixed.is_none() && r.last_affected.is_none() {
            return Err(format!("{part:?}: an empty range"));
        }
        r.text = [
            ("introduced", &r.introduced),
            ("fixed", &r.fixed),
            ("last_affected", &r.last_affected),
        ]
        .iter()
        .filter_map(|(k, v)| v.as_ref().map(|v| format!("{k}={v}")))
        .collect::<Vec<_>>()
        .join(" ");
        out.push(r);
    }
    if out.is_empty() {
        return Err("no range given".into());
    }
    Ok(out)
}

/// What a credited person did (the CVE / OSV credit types; CSAF 2.0 has none).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum CreditType {
    #[default]
    Finder,
    Reporter,
    Analyst,
    Coordinator,
    RemediationDeveloper,
    RemediationReviewer,
    RemediationVerifier,
    Tool,
    Sponsor,
    Other,
}

impl CreditType {
    pub const ALL: [CreditType; 10] = [
        CreditType::Finder,
        CreditType::Reporter,
        CreditType::Analyst,
        CreditType::Coordinator,
        CreditType::RemediationDeveloper,
        CreditType::RemediationReviewer,
        CreditType::RemediationVerifier,
        CreditType::Tool,
        CreditType::Sponsor,
        CreditType::Other,
    ];

    /// The CVE Record's spelling: lower case, words separated by spaces.
    pub fn cve(self) -> &'static str {
        match self {
            CreditType::Finder => "finder",
            CreditType::Reporter => "reporter",
            CreditType::Analyst => "analyst",
            CreditType::Coordinator => "coordinator",
            CreditType::RemediationDeveloper => "remediation developer",
            CreditType::RemediationReviewer => "remediation reviewer",
            CreditType::RemediationVerifier => "remediation verifier",
            CreditType::Tool => "tool",
            CreditType::Sponsor => "sponsor",
            CreditType::Other => "other",
        }
    }

    /// OSV's spelling: upper case with underscores.
    pub fn osv(self) -> String {
        self.cve().to_ascii_uppercase().replace(' ', "_")
    }

    /// Accepts the CVE and OSV spellings in any case, with `-` or `_` for spaces.
    pub fn parse(value: &str) -> Option<CreditType> {
        let wanted = value.trim().to_ascii_lowercase().replace(['_', '-'], " ");
        CreditType::ALL.into_iter().find(|t| t.cve() == wanted)
    }
}

/// A credit as the researcher gave it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Credit {
    pub name: String,
    /// A handle (`@jdoe`, a nickname), shown beside the name.
    #[serde(default)]
    pub handle: Option<String>,
    /// Where to reach them, as a URI (`mailto:` or `https:`): published as given.
    #[serde(default)]
    pub contact: Option<String>,
    #[serde(default)]
    pub kind: CreditType,
}

/// What the researcher chose, in a signed reply. No choice is anonymity.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case", tag = "choice")]
pub enum CreditChoice {
    /// `Credit: none`.
    Anonymous,
    Named(Credit),
}

impl CreditChoice {
    /// How the choice reads in the report's history.
    pub fn describe(&self) -> String {
        match self {
            CreditChoice::Anonymous => "none (anonymous)".to_string(),
            CreditChoice::Named(c) => {
                let mut s = c.name.clone();
                if let Some(h) = &c.handle {
                    s.push_str(&format!(" <{h}>"));
                }
                if let Some(u) = &c.contact {
                    s.push_str(&format!(" <{u}>"));
                }
                format!("{s} ({})", c.kind.cve())
            }
        }
    }
}

/// What a researcher's reply said about their credit, as the pipeline judged it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum CreditReply {
    /// A `Credit:` line in a reply signed by the key the report proved.
    Chosen(Result<CreditChoice, String>),
    /// A `Credit:` line in a reply that did not prove that key: not taken.
    Unproven,
}

impl super::Report {
    /// Records what a researcher's reply said about their credit: the choice (it
    /// replaces an earlier one), or why it was not taken. One event either way.
    pub(crate) fn take_credit_reply(
        &mut self,
        reply: &CreditReply,
        actor: &str,
        at: DateTime<Utc>,
    ) {
        let event = |action: &str, note: String| super::Event::new(at, actor, action, Some(note));
        match reply {
            CreditReply::Chosen(Ok(choice)) => {
                self.events.push(event("credit", choice.describe()));
                self.credit = Some(choice.clone());
            }
            CreditReply::Chosen(Err(why)) => {
                self.events.push(event(
                    "credit_refused",
                    format!("the Credit: line was not read: {why}"),
                ));
            }
            CreditReply::Unproven => self.events.push(event(
                "credit_refused",
                "a Credit: line in a reply not signed by the key the report proved: not taken"
                    .to_string(),
            )),
        }
    }
}

/// Longest credit name, handle or contact, in characters.
const CREDIT_PART_MAX: usize = 200;

/// The credit lines of a researcher's reply (its own text, quotes removed): a line
/// that starts with `Credit:` (no indentation: the acknowledgement's examples are
/// indented) names who is credited, `Credit: none` asks for none; an optional
/// `Credit-Type:` line says what they did. `None` when the reply has no `Credit:`
/// line; `Some(Err)` when it has one that cannot be read.
pub(crate) fn credit_from_reply(text: &str) -> Option<Result<CreditChoice, String>> {
    let value_of = |label: &str| {
        text.lines().find_map(|l| {
            let (k, v) = l.split_once(':')?;
            k.eq_ignore_ascii_case(label).then(|| v.trim().to_string())
        })
    };
    let credit = value_of("Credit")?;
    let kind = match value_of("Credit-Type") {
        Some(t) => match CreditType::parse(&t) {
            Some(k) => k,
            None => {
                return Some(Err(format!(
                    "Credit-Type: {t:?} is not one of {}",
                    CreditType::ALL.map(CreditType::cve).join(", ")
                )));
            }
        },
        None => CreditType::default(),
    };
    Some(parse_credit(&credit, kind))
}

/// `none`, or `NAME [<HANDLE>] [<CONTACT>]`: a bracketed part that is a URI
/// (`https://`, `mailto:`) or an address (`a@b.c`, made `mailto:`) is the contact,
/// another one the handle.
pub(crate) fn parse_credit(value: &str, kind: CreditType) -> Result<CreditChoice, String> {
    let value = value.trim();
    if value.eq_ignore_ascii_case("none") || value.eq_ignore_ascii_case("anonymous") {
        return Ok(CreditChoice::Anonymous);
    }
    if value.chars().any(char::is_control) {
        return Err("a credit is one line".into());
    }
    let (name, mut rest) = match value.find('<') {
        Some(i) => (
            value.get(..i).unwrap_or_default().trim(),
            value.get(i..).unwrap_or_default(),
        ),
        None => (value, ""),
    };
    if name.is_empty() {
        return Err("a credit starts with the name to publish (or says none)".into());
    }
    let mut credit = Credit {
        name: name.to_string(),
        handle: None,
        contact: None,
        kind,
    };
    while let Some(after) = rest.trim_start().strip_prefix('<') {
        let Some((part, next)) = after.split_once('>') else {
            return Err("a < without its >".into());
        };
        rest = next;
        let part = part.trim();
        if part.is_empty() {
            continue;
        }
        let lower = part.to_ascii_lowercase();
        let contact = if lower.starts_with("https://") || lower.starts_with("mailto:") {
            Some(part.to_string())
        } else if !part.starts_with('@')
            && part.contains('@')
            && part.rsplit('@').next().is_some_and(|d| d.contains('.'))
        {
            Some(format!("mailto:{part}"))
        } else {
            None
        };
        let slot = match contact {
            Some(c) => {
                if credit.contact.is_some() {
                    return Err("give one contact".into());
                }
                credit.contact = Some(c);
                continue;
            }
            None => &mut credit.handle,
        };
        if slot.replace(part.to_string()).is_some() {
            return Err("give one handle".into());
        }
    }
    if !rest.trim().is_empty() {
        return Err(format!(
            "{:?} after the bracketed parts: write Credit: NAME <HANDLE> <CONTACT>",
            rest.trim()
        ));
    }
    for part in [
        Some(&credit.name),
        credit.handle.as_ref(),
        credit.contact.as_ref(),
    ]
    .into_iter()
    .flatten()
    {
        if part.chars().count() > CREDIT_PART_MAX {
            return Err(format!(
                "{part:?} is longer than {CREDIT_PART_MAX} characters"
            ));
        }
    }
    Ok(CreditChoice::Named(credit))
}

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::indexing_slicing, clippy::panic)]
mod tests {
    use super::*;

    #[test]
    fn credits_read_name_handle_and_contact() {
        let c = parse_credit("Jane Doe <@jdoe> <jane@example.net>", CreditType::Reporter).unwrap();
        assert_eq!(
            c,
            CreditChoice::Named(Credit {
                name: "Jane Doe".into(),
                handle: Some("@jdoe".into()),
                contact: Some("mailto:jane@example.net".into()),
                kind: CreditType::Reporter,
            })
        );
        let c = parse_credit("Jane <https://jane.example/>", CreditType::Finder).unwrap();
        let CreditChoice::Named(c) = c else { panic!() };
        assert_eq!(c.contact.as_deref(), Some("https://jane.example/"));
        assert_eq!(c.handle, None);
        assert_eq!(
            parse_credit(" NONE ", CreditType::Finder).unwrap(),
            CreditChoice::Anonymous
        );
        for bad in ["<@x>", "Jane <x", "Jane <a> <b>", "Jane <a> trailing"] {
            assert!(parse_credit(bad, CreditType::Finder).is_err(), "{bad}");
        }
    }

    #[test]
    fn a_reply_credits_only_with_a_credit_line_at_the_start() {
        assert_eq!(credit_from_reply("Thanks!\n  Credit: example only\n"), None);
        let c = credit_from_reply("Hello\nCredit: Jane\nCredit-Type: remediation-developer\n")
            .unwrap()
            .unwrap();
        let CreditChoice::Named(c) = c else { panic!() };
        assert_eq!(c.kind, CreditType::RemediationDeveloper);
        assert_eq!(c.kind.osv(), "REMEDIATION_DEVELOPER");
        assert_eq!(c.kind.cve(), "remediation developer");
        assert!(
            credit_from_reply("Credit: Jane\nCredit-Type: hero\n")
                .unwrap()
                .is_err()
        );
    }

    #[test]
    fn advisory_details_are_checked_and_normalised() {
        assert_eq!(check_ecosystem("CRATES.IO").unwrap(), "crates.io");
        assert_eq!(check_ecosystem("debian:12").unwrap(), "Debian:12");
        assert!(check_ecosystem("cargo").is_err());
        assert_eq!(
            check_purl("PKG:Cargo/foo@1.0").unwrap(),
            "pkg:cargo/foo@1.0"
        );
        assert!(check_purl("cargo/foo").is_err());
        assert_eq!(
            check_references("https://a.example/x, https://b.example/y https://a.example/x")
                .unwrap(),
            "https://a.example/x https://b.example/y"
        );
        assert!(check_references("ftp://a.example").is_err());
        assert_eq!(check_date("2026-12-01").unwrap(), "2026-12-01T00:00:00Z");
        assert_eq!(
            check_date("2026-12-01T10:00:00+01:00").unwrap(),
            "2026-12-01T09:00:00Z"
        );
        assert!(check_date("2026-12-01T10:00:00").is_err());
        assert_eq!(
            check_ranges("fixed=1.4,introduced=1.0 ;introduced=2.0 last-affected=2.3").unwrap(),
            "introduced=1.0 fixed=1.4; introduced=2.0 last_affected=2.3"
        );
        for bad in [
            "introduced=1 fixed=2 last_affected=3",
            "1.0-1.4",
            "fixed=",
            ";",
        ] {
            assert!(check_ranges(bad).is_err(), "{bad}");
        }
    }
}
