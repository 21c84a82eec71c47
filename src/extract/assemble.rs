//! Fields from parsed sections: each section's text joined and cleaned, the first value of a
//! field kept (long sections appended), and the loose text as the description when no
//! section gives one.

use super::fields::{FieldName, Fields};
use super::labels::is_short;
use super::sections::{Bucket, Parsed, Section};
use super::text::{Line, trim_block};
use super::{closing, prose, scoring};

fn join_section(section: &Section<'_>) -> String {
    let mut s = String::new();
    if !section.inline.is_empty() {
        s.push_str(section.inline);
        s.push('\n');
    }
    for line in &section.body {
        s.push_str(line);
        s.push('\n');
    }
    trim_block(&s)
}

/// Short values lose wrapping Markdown emphasis: "**High**" and "`auth/login.php`".
fn clean_short(s: &str) -> String {
    let mut t = s.trim();
    for mark in ["**", "__", "`", "*", "_"] {
        if t.len() >= 2 * mark.len()
            && let Some(inner) = t.strip_prefix(mark).and_then(|r| r.strip_suffix(mark))
            && !inner.contains(mark)
        {
            t = inner.trim();
        }
    }
    t.to_owned()
}

/// "- 2.7.x before 2.7.8\n• 3.0.x before 3.0.7": the items of a list, without their bullets.
fn unbullet(s: &str) -> String {
    s.lines()
        .map(|l| {
            let t = l.trim_start();
            ["- ", "* ", "+ ", "• ", "・", "· "]
                .iter()
                .find_map(|b| t.strip_prefix(b))
                .map_or(l, str::trim_start)
        })
        .collect::<Vec<_>>()
        .join("\n")
}

/// "rukzak-jwt (npm)", "hopak-client (PyPI)": the package, without its registry.
fn without_ecosystem(value: &str) -> String {
    const REGISTRIES: &[&str] = &[
        "npm",
        "pypi",
        "pip",
        "maven",
        "nuget",
        "rubygems",
        "gem",
        "go",
        "crates.io",
        "cargo",
        "composer",
        "packagist",
        "pub",
        "hex",
        "cocoapods",
        "swift",
    ];
    let t = value.trim_end();
    if let Some(open) = t.rfind(" (")
        && let Some(inner) = t.get(open + 2..).and_then(|r| r.strip_suffix(')'))
        && REGISTRIES.contains(&inner.to_ascii_lowercase().as_str())
    {
        return t.get(..open).unwrap_or(t).to_owned();
    }
    value.to_owned()
}

fn credit(value: &str) -> String {
    let first = value.lines().next().unwrap_or("");
    // "Acknowledgements\nThanks to Amara Okafor for reporting this": the person thanked.
    if let Some((person, _)) = closing::credited(&[first]) {
        return person;
    }
    match closing::name_in(first) {
        Some(name) if first.contains(['(', '<', '（']) || value.lines().nth(1).is_some() => name,
        _ => value.to_owned(),
    }
}

fn non_empty(s: String) -> Option<String> {
    if s.trim().is_empty() { None } else { Some(s) }
}

/// First paragraph, joined into one line: titles wrap, but they are one sentence.
fn first_paragraph(s: &str) -> (String, String) {
    let mut title_lines = Vec::new();
    let mut rest = Vec::new();
    let mut in_title = true;
    for line in s.lines() {
        if in_title && line.trim().is_empty() && !title_lines.is_empty() {
            in_title = false;
        }
        if in_title {
            if !line.trim().is_empty() {
                title_lines.push(line.trim());
            }
        } else {
            rest.push(line);
        }
    }
    (title_lines.join(" "), rest.join("\n"))
}

/// Text collected while placing sections, for the decisions taken once all are seen.
#[derive(Default)]
struct Leftovers {
    /// Text under a "## Title" heading after its first paragraph.
    extra_loose: Vec<String>,
    /// Whether any long (description-like) section was present.
    long_sections: bool,
    /// Each CVSS section's opener and text, where a vector or a score may be.
    cvss_text: Vec<String>,
    severity_text: Vec<String>,
}

pub(crate) fn assemble(parsed: &Parsed<'_>, lines: &[Line<'_>]) -> Fields {
    let mut f = Fields::default();
    let mut left = Leftovers::default();
    for section in &parsed.sections {
        place(&mut f, &mut left, section);
    }
    if f.title.is_none()
        && let Some(t) = &parsed.heading_title
    {
        f.title = non_empty(prose::clean_title(&clean_short(t)));
    }
    if f.description.is_none() {
        f.description = loose_description(parsed, &left);
    }
    score(&mut f, &left, lines);
    f
}

/// Only what stands under a label ("Affected versions: 2.0-2.3", "## Component"):
/// no heading taken for a title, nothing scored from loose text.
pub(crate) fn labelled_only(parsed: &Parsed<'_>) -> Fields {
    let mut f = Fields::default();
    let mut left = Leftovers::default();
    for section in &parsed.sections {
        place(&mut f, &mut left, section);
    }
    f
}

/// Puts one section's value into its field: the first value wins for short fields, long
/// sections of the same field are appended.
fn place(f: &mut Fields, left: &mut Leftovers, section: &Section<'_>) {
    let value = join_section(section);
    match section.field {
        FieldName::Title => {
            // "Title: X" is exactly X; "## Title" is the first paragraph under it.
            let (title, rest) = if section.inline.is_empty() {
                first_paragraph(&value)
            } else {
                (section.inline.to_owned(), section.body.join("\n"))
            };
            let title = prose::clean_title(&clean_short(&title));
            if f.title.is_none() {
                f.title = non_empty(title);
            }
            if !rest.trim().is_empty() {
                left.extra_loose.push(rest);
            }
        }
        FieldName::CvssVector => {
            left.cvss_text
                .push(format!("{}\n{}", section.opener, value));
        }
        FieldName::Severity => left.severity_text.push(value),
        field if is_short(field) => {
            let slot = match field {
                FieldName::VulnerabilityType => &mut f.vulnerability_type,
                FieldName::AffectedComponent => &mut f.affected_component,
                FieldName::AffectedVersions => &mut f.affected_versions,
                FieldName::CreditName => &mut f.credit_name,
                _ => &mut f.contact,
            };
            // BDU records give "Класс уязвимости: Уязвимость кода" before "Тип ошибки:
            // CWE-502: …", NVD-style forms a class before the CWE: the CWE names the type.
            let cwe = |v: &str| v.to_ascii_uppercase().contains("CWE-");
            if field == FieldName::VulnerabilityType
                && slot.as_deref().is_some_and(|old| !cwe(old))
                && cwe(&value)
            {
                *slot = None;
            }
            if slot.is_none() {
                let value = match field {
                    FieldName::AffectedVersions => unbullet(&value),
                    FieldName::AffectedComponent => without_ecosystem(&unbullet(&value)),
                    // "Lena Vogt (Office Graz)\nOrchard Labs": the person, not the affiliation.
                    FieldName::CreditName => credit(&value),
                    _ => value,
                };
                *slot = non_empty(clean_short(&value));
            }
        }
        field => {
            left.long_sections = true;
            let slot = match field {
                FieldName::Description => &mut f.description,
                FieldName::StepsToReproduce => &mut f.steps_to_reproduce,
                FieldName::ProofOfConcept => &mut f.proof_of_concept,
                FieldName::Impact => &mut f.impact,
                _ => &mut f.suggested_fix,
            };
            if value.trim().is_empty() {
                return;
            }
            match slot {
                Some(existing) => {
                    existing.push_str("\n\n");
                    existing.push_str(&value);
                }
                None => *slot = Some(value),
            }
        }
    }
}

/// Fields no line label gave, from "Label: value" inside prose; the first such value wins.
pub(crate) fn fill_inline(f: &mut Fields, found: Vec<(FieldName, String)>) {
    for (field, value) in found {
        match field {
            FieldName::Severity => {
                if f.stated_severity.is_none() {
                    f.stated_severity = prose::severity_from_value(&value);
                }
            }
            FieldName::CvssVector => {}
            field => {
                if let Some(slot) = f.text_slot(field)
                    && slot.is_none()
                {
                    *slot = non_empty(clean_short(&value));
                }
            }
        }
    }
    split_contact(f);
}

/// "Contactgegevens: Daan Jansen, daan.jansen@example.org", "Contact: Jane Doe <jane@…>": the
/// contact is the address, the name before it is the credit when no label gave one. "Author |
/// wang.lei@example.com": an address alone is no name, it is the contact.
pub(crate) fn split_contact(f: &mut Fields) {
    if let Some(credit) = f.credit_name.as_deref()
        && let Some(address) = closing::email_in(credit)
        && credit.trim().trim_matches(['<', '>']) == address
    {
        f.contact = f.contact.take().or(Some(address));
        f.credit_name = None;
    }
    let Some(contact) = f.contact.as_deref() else {
        return;
    };
    let Some(address) = closing::email_in(contact) else {
        return;
    };
    if contact.trim() == address {
        return;
    }
    let name = closing::name_in(contact);
    if name.is_none() && contact.lines().count() > 1 {
        // A contact block of several lines (postal address, phone) stays as written.
        return;
    }
    if f.credit_name.is_none() {
        f.credit_name = name;
    }
    f.contact = Some(address);
}

/// With real sections present, only loose text (e.g. a preamble) can be the description;
/// with none, the report is prose and everything that is not a short key is.
fn loose_description(parsed: &Parsed<'_>, left: &Leftovers) -> Option<String> {
    let mut text = String::new();
    for (line, bucket) in &parsed.other {
        if *bucket == Bucket::Loose || !left.long_sections {
            text.push_str(line);
            text.push('\n');
        }
    }
    for rest in &left.extra_loose {
        text.push_str(rest);
        text.push('\n');
    }
    non_empty(trim_block(&text))
}

/// The CVSS vector (from a CVSS section first, else anywhere) and the severity stated in words.
fn score(f: &mut Fields, left: &Leftovers, lines: &[Line<'_>]) {
    f.cvss = left
        .cvss_text
        .iter()
        .find_map(|t| scoring::find_cvss(t))
        .or_else(|| {
            let all: Vec<&str> = lines.iter().map(|l| l.text).collect();
            scoring::find_cvss(&all.join("\n"))
        });
    f.stated_severity = left
        .severity_text
        .iter()
        .find_map(|t| prose::severity_from_value(t))
        .or_else(|| {
            // "impact: High" in advisory headers, "Impatto sistemico\nAlto (66.41)" in CSIRT
            // bulletins: an impact whose first line is a level alone states the level, even
            // when unknown header lines ("homepage:", "found:") run on after it.
            f.impact.as_deref().and_then(level_line)
        })
        .or_else(|| {
            // "CVSS score: 8.1" without a usable vector still states a severity, read from a
            // score alone: marked inferred.
            if f.cvss.is_some() {
                return None;
            }
            let level = left
                .cvss_text
                .iter()
                .find_map(|t| prose::severity_from_number(t));
            f.inferred.severity = level.is_some();
            level
        });
}

/// The level an impact's first line states when it is nothing else: "medium", "High",
/// "Alto (66.41)"; `None` for a sentence ("High-value accounts can be taken over").
fn level_line(impact: &str) -> Option<crate::extract::Severity> {
    let first = impact.lines().find(|l| !l.trim().is_empty())?;
    if first.split_whitespace().count() > 2 {
        return None;
    }
    crate::extract::labels::severity_in(first)
}

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::indexing_slicing)]
mod tests {
    use super::*;
    use crate::extract::Severity;

    #[test]
    fn a_contact_with_a_name_gives_the_address() {
        /// (credit, contact) in, (credit, contact) out.
        type Case<'a> = (
            Option<&'a str>,
            Option<&'a str>,
            Option<&'a str>,
            Option<&'a str>,
        );
        let cases: &[Case<'_>] = &[
            (
                None,
                Some("Daan Jansen, daan.jansen@example.org"),
                Some("Daan Jansen"),
                Some("daan.jansen@example.org"),
            ),
            (
                Some("J. Doe"),
                Some("Jane Doe <jane@example.org>"),
                Some("J. Doe"),
                Some("jane@example.org"),
            ),
            (
                Some("wang.lei@example.com"),
                None,
                None,
                Some("wang.lei@example.com"),
            ),
            (
                Some("<anna@example.pl>"),
                Some("anna.k@example.pl"),
                None,
                Some("anna.k@example.pl"),
            ),
            (
                Some("Ирина Соколова"),
                Some("i.sokolova@example.org"),
                Some("Ирина Соколова"),
                Some("i.sokolova@example.org"),
            ),
            (
                None,
                Some("Security team\nExample GmbH\n+49 30 1234 | sec@example.de"),
                None,
                Some("Security team\nExample GmbH\n+49 30 1234 | sec@example.de"),
            ),
            (None, Some("@jdoe on Matrix"), None, Some("@jdoe on Matrix")),
        ];
        for (credit, contact, want_credit, want_contact) in cases {
            let mut f = Fields {
                credit_name: credit.map(str::to_owned),
                contact: contact.map(str::to_owned),
                ..Fields::default()
            };
            split_contact(&mut f);
            assert_eq!(
                (f.credit_name.as_deref(), f.contact.as_deref()),
                (*want_credit, *want_contact),
                "credit {credit:?}, contact {contact:?}"
            );
        }
    }

    #[test]
    fn an_impact_line_that_is_a_level() {
        let cases: &[(&str, Option<Severity>)] = &[
            (
                "medium\n          homepage: https://x.example\n             found: 2026-07-02",
                Some(Severity::Medium),
            ),
            ("High", Some(Severity::High)),
            ("Alto (66.41)", Some(Severity::High)),
            (
                "Élevé\nUn attaquant peut lire la base.",
                Some(Severity::High),
            ),
            ("Высокий", Some(Severity::High)),
            ("High-value accounts can be taken over.", None),
            ("Un attaquant distant peut exécuter du code.", None),
        ];
        for (impact, want) in cases {
            assert_eq!(level_line(impact), *want, "impact {impact:?}");
        }
    }

    #[test]
    fn clean_short_strips_wrapping_markup() {
        assert_eq!(clean_short("**High**"), "High");
        assert_eq!(clean_short("`auth/login.php`"), "auth/login.php");
        assert_eq!(clean_short("a `b` c"), "a `b` c");
    }
}
