//! Section label vocabulary: which words, in which spellings, name which field.

use super::fields::FieldName;

/// Labels longer than this are prose, not labels; also bounds the work done per line.
const MAX_LABEL_BYTES: usize = 64;

/// Looks a candidate label up, forgiving case, Markdown emphasis, numbering, trailing colons,
/// hyphenation and a trailing parenthetical such as "(PoC)" or "(optional)".
pub(crate) fn lookup(raw: &str) -> Option<FieldName> {
    if raw.len() > MAX_LABEL_BYTES * 2 {
        return None;
    }
    let key = normalise(raw);
    // An inner colon means "Label: value", which the caller splits; never a label by itself.
    if key.is_empty() || key.len() > MAX_LABEL_BYTES || key.contains([':', '：']) {
        return None;
    }
    if let Some(field) = exact(&key) {
        return Some(field);
    }
    // "Vulnerability type / CWE", "Impact & severity": the first recognisable part names it.
    if key.contains('/') || key.contains('&') {
        return key.split(['/', '&']).map(str::trim).find_map(exact);
    }
    None
}

fn normalise(raw: &str) -> String {
    let marks: &[char] = &['*', '_', '`', '#', ':', '：', ' ', '\t', '[', ']'];
    let mut s = raw.trim().trim_matches(marks);
    s = strip_numbering(s).trim_matches(marks);
    let mut key = s.to_lowercase().replace(['-', '_', '\u{a0}'], " ");
    // Trailing parenthetical: "Proof of Concept (PoC)", "Affected version(s)".
    if key.ends_with(')')
        && let Some(open) = key.rfind('(')
    {
        key.truncate(open);
    }
    key.split_whitespace().collect::<Vec<_>>().join(" ")
}

/// Strips leading section numbering such as "1.", "2)", "(3)", "1.2", "IV." is not handled
/// because Roman numerals collide with words ("I", "V").
pub(crate) fn strip_numbering(s: &str) -> &str {
    let t = s.trim_start();
    let t2 = t.strip_prefix('(').unwrap_or(t);
    let digits = t2.bytes().take_while(u8::is_ascii_digit).count();
    if digits == 0 || digits > 3 {
        return s;
    }
    let mut rest = t2.get(digits..).unwrap_or("");
    // Sub-numbering: 1.2, 1.2.3
    while let Some(r) = rest.strip_prefix('.') {
        let d = r.bytes().take_while(u8::is_ascii_digit).count();
        if d == 0 {
            break;
        }
        rest = r.get(d..).unwrap_or("");
    }
    let rest = rest.strip_prefix(['.', ')', ':']).unwrap_or(rest);
    if rest.starts_with([' ', '\t']) {
        rest.trim_start()
    } else {
        s
    }
}

fn exact(key: &str) -> Option<FieldName> {
    use FieldName::*;
    // "CVSS", "CVSS v3.1 vector", "CVSS 4.0 score"; but "CVSS:3.1/AV:N/..." is a vector.
    if key.starts_with("cvss")
        && key
            .chars()
            .all(|c| c.is_alphanumeric() || c == ' ' || c == '.')
    {
        return Some(CvssVector);
    }
    let field = match key {
        "title"
        | "subject"
        | "report title"
        | "vulnerability title"
        | "issue title"
        | "vulnerability name"
        | "bug title"
        | "finding"
        | "finding title"
        | "headline" => Title,

        "vulnerability type"
        | "type"
        | "vuln type"
        | "type of vulnerability"
        | "type of issue"
        | "vulnerability class"
        | "vulnerability category"
        | "category"
        | "weakness"
        | "weakness type"
        | "cwe"
        | "bug type"
        | "issue type"
        | "bug class"
        | "class"
        | "vulnerability kind"
        | "kind of vulnerability"
        | "attack type" => VulnerabilityType,

        "affected component"
        | "affected components"
        | "component"
        | "components"
        | "vulnerable component"
        | "product"
        | "affected product"
        | "affected products"
        | "affected module"
        | "module"
        | "affected file"
        | "affected files"
        | "vulnerable file"
        | "affected endpoint"
        | "affected endpoints"
        | "endpoint"
        | "vulnerable endpoint"
        | "affected url"
        | "vulnerable url"
        | "asset"
        | "affected asset"
        | "target"
        | "affected software"
        | "software"
        | "package"
        | "affected package"
        | "project"
        | "affected project"
        | "affected service"
        | "service"
        | "application"
        | "affected application"
        | "affected system"
        | "affected area"
        | "affected feature"
        | "affected parameter"
        | "vulnerable parameter"
        | "affected code" => AffectedComponent,

        "affected versions"
        | "affected version"
        | "versions"
        | "version"
        | "versions affected"
        | "version affected"
        | "affected releases"
        | "affected release"
        | "vulnerable versions"
        | "vulnerable version"
        | "tested version"
        | "tested versions"
        | "version tested"
        | "affected builds"
        | "affected range"
        | "version range"
        | "firmware"
        | "firmware version"
        | "software version"
        | "product version"
        | "affected firmware" => AffectedVersions,

        "description"
        | "summary"
        | "details"
        | "detail"
        | "vulnerability description"
        | "detailed description"
        | "overview"
        | "vulnerability details"
        | "technical details"
        | "issue description"
        | "executive summary"
        | "description of the vulnerability"
        | "description of the issue"
        | "problem"
        | "problem description"
        | "root cause"
        | "root cause analysis"
        | "vulnerability summary"
        | "issue summary"
        | "issue"
        | "vulnerability"
        | "the vulnerability"
        | "technical description"
        | "short description"
        | "bug description"
        | "analysis"
        | "explanation"
        | "tl;dr"
        | "tldr" => Description,

        "steps to reproduce"
        | "steps"
        | "reproduction steps"
        | "reproduction"
        | "how to reproduce"
        | "steps to replicate"
        | "reproduce"
        | "to reproduce"
        | "repro"
        | "repro steps"
        | "reproduction instructions"
        | "steps to reproduce the issue"
        | "steps to reproduce the vulnerability"
        | "replication steps"
        | "reproducing"
        | "steps for reproduction"
        | "instructions"
        | "reproduction guide"
        | "str"
        | "how to replicate"
        | "exploitation steps"
        | "steps to exploit" => StepsToReproduce,

        "proof of concept"
        | "poc"
        | "exploit"
        | "poc code"
        | "exploit code"
        | "payload"
        | "proof"
        | "proof of concept code"
        | "poc exploit"
        | "exploit poc"
        | "poc script"
        | "exploit script"
        | "demonstration" => ProofOfConcept,

        "impact"
        | "security impact"
        | "potential impact"
        | "business impact"
        | "attack scenario"
        | "attack scenarios"
        | "risk"
        | "consequences"
        | "impact analysis"
        | "exploitability"
        | "what can an attacker do"
        | "threat"
        | "impact assessment" => Impact,

        "suggested fix"
        | "fix"
        | "remediation"
        | "mitigation"
        | "mitigations"
        | "recommendation"
        | "recommendations"
        | "recommended fix"
        | "suggested remediation"
        | "suggested mitigation"
        | "proposed fix"
        | "patch"
        | "suggested patch"
        | "solution"
        | "workaround"
        | "workarounds"
        | "fix suggestion"
        | "recommended remediation"
        | "how to fix"
        | "remediation advice"
        | "remediation steps"
        | "suggested solution"
        | "proposed solution"
        | "possible fix"
        | "recommended mitigation"
        | "countermeasures"
        | "resolution"
        | "fixes"
        | "remediations"
        | "patches"
        | "fix recommendation" => SuggestedFix,

        "severity"
        | "risk level"
        | "severity level"
        | "criticality"
        | "severity rating"
        | "risk rating"
        | "estimated severity"
        | "suggested severity"
        | "severity assessment"
        | "rating"
        | "priority"
        | "impact rating"
        | "overall severity" => Severity,

        "credit" | "credit name" | "credits" | "reporter" | "reported by" | "researcher"
        | "discovered by" | "found by" | "author" | "name" | "your name" | "reporter name"
        | "researcher name" | "full name" | "credit as" | "acknowledgement" | "acknowledgment"
        | "acknowledgements" | "acknowledgments" | "attribution" | "credit to" | "finder"
        | "discoverer" | "handle" => CreditName,

        "contact"
        | "email"
        | "e mail"
        | "contact email"
        | "contact info"
        | "contact information"
        | "contact details"
        | "reporter email"
        | "reporter contact"
        | "your email"
        | "mail"
        | "email address"
        | "contact address"
        | "researcher email" => Contact,

        _ => return None,
    };
    Some(field)
}

/// Fields whose values are short one-liners; their key lines do not swallow following prose.
pub(crate) fn is_short(field: FieldName) -> bool {
    !matches!(
        field,
        FieldName::Description
            | FieldName::StepsToReproduce
            | FieldName::ProofOfConcept
            | FieldName::Impact
            | FieldName::SuggestedFix
    )
}

/// Level-one headings that are document furniture rather than a report title.
pub(crate) fn is_generic_heading(text: &str) -> bool {
    let key = normalise(text);
    matches!(
        key.as_str(),
        "references"
            | "timeline"
            | "disclosure timeline"
            | "notes"
            | "note"
            | "attachments"
            | "appendix"
            | "environment"
            | "background"
            | "introduction"
            | "conclusion"
            | "links"
            | "resources"
            | "about"
            | "contents"
            | "table of contents"
            | "disclaimer"
            | "report"
            | "bug report"
            | "security report"
            | "vulnerability report"
            | "security vulnerability report"
            | "vulnerability disclosure"
            | "security advisory"
            | "advisory"
            | "hello"
            | "hi"
    )
}

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::indexing_slicing)]
mod tests {
    use super::*;

    #[test]
    fn lookup_table() {
        let cases: &[(&str, Option<FieldName>)] = &[
            ("Title", Some(FieldName::Title)),
            ("**Title:**", Some(FieldName::Title)),
            ("  __Impact__ ", Some(FieldName::Impact)),
            ("1. Steps to Reproduce:", Some(FieldName::StepsToReproduce)),
            ("2) Description", Some(FieldName::Description)),
            ("(3) Summary", Some(FieldName::Description)),
            ("1.2 Details", Some(FieldName::Description)),
            ("Proof of Concept (PoC)", Some(FieldName::ProofOfConcept)),
            ("Proof-of-Concept", Some(FieldName::ProofOfConcept)),
            ("PoC", Some(FieldName::ProofOfConcept)),
            ("Affected Version(s)", Some(FieldName::AffectedVersions)),
            ("CVSS v3.1 Vector", Some(FieldName::CvssVector)),
            ("CVSS", Some(FieldName::CvssVector)),
            (
                "Vulnerability Type / CWE",
                Some(FieldName::VulnerabilityType),
            ),
            ("Remediation", Some(FieldName::SuggestedFix)),
            ("Reporter", Some(FieldName::CreditName)),
            ("E-mail", Some(FieldName::Contact)),
            ("References", None),
            ("Host", None),
            ("Location", None),
            ("Step 1", None),
            ("", None),
            ("**", None),
        ];
        for (raw, want) in cases {
            assert_eq!(lookup(raw), *want, "label {raw:?}");
        }
    }

    #[test]
    fn overlong_labels_are_rejected_cheaply() {
        let long = "description ".repeat(1000);
        assert_eq!(lookup(&long), None);
    }

    #[test]
    fn numbering_is_stripped_only_when_followed_by_space() {
        assert_eq!(strip_numbering("1. Title"), "Title");
        assert_eq!(strip_numbering("12) x"), "x");
        assert_eq!(strip_numbering("1.2.3 x"), "x");
        assert_eq!(strip_numbering("2.0 is affected"), "is affected");
        assert_eq!(strip_numbering("1.x"), "1.x");
        assert_eq!(strip_numbering("2024 report"), "2024 report");
        assert_eq!(strip_numbering("1234. x"), "1234. x");
    }

    #[test]
    fn generic_headings() {
        assert!(is_generic_heading("References"));
        assert!(is_generic_heading("Vulnerability Report"));
        assert!(!is_generic_heading("SQL injection in login"));
    }
}
