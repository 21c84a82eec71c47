//! One test per report shape.

use super::*;

#[test]
fn shape_key_value() {
    check(&Case {
        name: "key-value",
        subject: Some("Re: [SECURITY] something else"),
        text: key_value_report(),
        expect: vec![
            (FieldName::Title, Some("SQL injection in login")),
            (FieldName::VulnerabilityType, Some("SQLi")),
            (FieldName::AffectedComponent, Some("auth/login.php")),
            (FieldName::AffectedVersions, Some("2.0 - 2.3.1")),
            (FieldName::CreditName, Some("Jane Doe")),
            (FieldName::Contact, Some("jane@example.org")),
            (
                FieldName::Description,
                Some(
                    "The login form concatenates the username into a query.\n\nAny user can log in as admin.",
                ),
            ),
            (
                FieldName::StepsToReproduce,
                Some("1. Open /login\n2. Enter ' OR 1=1-- as the username\nStep 3: submit"),
            ),
            (FieldName::Impact, Some("Full database read.")),
            (FieldName::SuggestedFix, Some("Use prepared statements.")),
            (FieldName::CvssVector, Some(V31_CRIT)),
            // The vector decides the severity; the stated one is kept separately.
            (FieldName::Severity, Some("critical")),
            (FieldName::ProofOfConcept, None),
        ],
    });
    let fields = extract(None, &key_value_report());
    assert_eq!(fields.stated_severity, Some(Severity::High));
    assert_eq!(fields.cvss.as_ref().map(|c| c.score), Some(9.8));
}

#[test]
fn shape_key_value_synonyms_and_inline_multiline() {
    check(&Case {
        name: "synonyms",
        subject: None,
        text: "Type: XSS\nProduct: Acme CMS\nVersion: 4.1\nReporter: J. Doe\nE-mail: jd@example.org\n\
               Description: The search page reflects q.\nIt is not encoded.\nRemediation: encode output\n"
            .to_owned(),
        expect: vec![
            (FieldName::Title, None),
            (FieldName::VulnerabilityType, Some("XSS")),
            (FieldName::AffectedComponent, Some("Acme CMS")),
            (FieldName::AffectedVersions, Some("4.1")),
            (FieldName::CreditName, Some("J. Doe")),
            (FieldName::Contact, Some("jd@example.org")),
            (
                FieldName::Description,
                Some("The search page reflects q.\nIt is not encoded."),
            ),
            (FieldName::SuggestedFix, Some("encode output")),
            (FieldName::Severity, None),
        ],
    });
}

#[test]
fn shape_markdown() {
    let fields = check(&Case {
        name: "markdown",
        subject: Some("Vulnerability report: ignored because the heading wins"),
        text: markdown_report(),
        expect: vec![
            (FieldName::Title, Some("Stored XSS in comment preview")),
            (
                FieldName::Description,
                Some("Comments are rendered **without** escaping."),
            ),
            (FieldName::AffectedVersions, Some("3.0\n3.1")),
            (
                FieldName::StepsToReproduce,
                Some(
                    "1. Post a comment containing the payload.\n2. Open the preview.\n\n```html\n<script>alert(document.domain)</script>\n```",
                ),
            ),
            (
                FieldName::ProofOfConcept,
                Some("```\ncurl -d 'c=<script>' https://x/comment\n```"),
            ),
            (
                FieldName::Impact,
                Some("Session theft. CVSS vector: `CVSS:3.1/AV:N/AC:L/PR:N/UI:R/S:C/C:L/I:L/A:N`"),
            ),
            (FieldName::SuggestedFix, Some("Escape on output.")),
            (FieldName::CvssVector, Some(V31_MED)),
            (FieldName::Severity, Some("medium")),
            (
                FieldName::VulnerabilityType,
                Some("Cross-site scripting (XSS)"),
            ),
        ],
    });
    assert_eq!(fields.stated_severity, None);
}

#[test]
fn shape_markdown_setext_and_bold_inline() {
    check(&Case {
        name: "setext",
        subject: None,
        text: "Open redirect in /out\n=====================\n\nDescription\n-----------\n\nThe url parameter is not validated.\n\n\
               **Severity:** Medium\n\n**Steps to reproduce:** visit /out?url=https://evil\n\nNotes\n-----\n\nunrelated\n"
            .to_owned(),
        expect: vec![
            (FieldName::Title, Some("Open redirect in /out")),
            (FieldName::Description, Some("The url parameter is not validated.")),
            (FieldName::Severity, Some("medium")),
            (
                FieldName::StepsToReproduce,
                Some("visit /out?url=https://evil"),
            ),
            (FieldName::VulnerabilityType, Some("Open redirect")),
        ],
    });
}

#[test]
fn shape_numbered_sections() {
    check(&Case {
        name: "numbered",
        subject: None,
        text: "1. Title: Path traversal in download\n2) Description\nThe file parameter accepts ../ sequences.\n\
               3. Steps to reproduce:\n1. Request /download?file=../../etc/passwd\n2. Description: observe the response\n\
               Step 3 - read it\n4. Impact\nArbitrary file read.\n5. Suggested fix:\nCanonicalise paths.\n"
            .to_owned(),
        expect: vec![
            (FieldName::Title, Some("Path traversal in download")),
            (
                FieldName::Description,
                Some("The file parameter accepts ../ sequences."),
            ),
            (
                FieldName::StepsToReproduce,
                Some(
                    "1. Request /download?file=../../etc/passwd\n2. Description: observe the response\nStep 3 - read it",
                ),
            ),
            (FieldName::Impact, Some("Arbitrary file read.")),
            (FieldName::SuggestedFix, Some("Canonicalise paths.")),
            (FieldName::VulnerabilityType, Some("Path traversal")),
        ],
    });
}

#[test]
fn shape_prose() {
    let fields = check(&Case {
        name: "prose",
        subject: Some("Fwd: [vuln] Security issue: SSRF in image proxy"),
        text: prose_report(),
        expect: vec![
            (FieldName::Title, Some("SSRF in image proxy")),
            (
                FieldName::VulnerabilityType,
                Some("Server-side request forgery (SSRF)"),
            ),
            (
                FieldName::AffectedVersions,
                Some("versions 1.2.3 through 1.4.0"),
            ),
            (
                FieldName::StepsToReproduce,
                Some(
                    "1. Request /proxy?url=http://169.254.169.254/\n2. Observe the metadata in the response.",
                ),
            ),
            (FieldName::CvssVector, Some(V31_CRIT)),
            (FieldName::Impact, None),
            (FieldName::ProofOfConcept, None),
        ],
    });
    assert_eq!(fields.stated_severity, Some(Severity::Critical));
    let description = fields.description.unwrap();
    assert!(description.starts_with("Hello security team,"));
    assert!(
        description.ends_with("My vector is CVSS:3.1/AV:N/AC:L/PR:N/UI:N/S:U/C:H/I:H/A:H."),
        "{description}"
    );
    assert!(!description.contains("Thanks"), "{description}");
    assert!(!description.contains("PGP 0xDEADBEEF"));
}

#[test]
fn prose_with_only_stated_severity_keeps_it() {
    let fields = extract(
        Some("XSS"),
        "This is a High severity bug in the search form.",
    );
    assert_eq!(fields.cvss, None);
    assert_eq!(fields.stated_severity, Some(Severity::High));
    assert_eq!(fields.severity(), Some(Severity::High));
    assert_eq!(fields.get(FieldName::Severity).as_deref(), Some("high"));
    assert_eq!(fields.get(FieldName::CvssVector), None);
    assert_eq!(
        fields.description.as_deref(),
        Some("This is a High severity bug in the search form.")
    );
}

#[test]
fn shape_html_converted() {
    let html = "<html><body><h1>IDOR on invoices</h1>\
        <p><strong>Severity:</strong> Low</p>\
        <h2>Description</h2><p>Invoices are fetched by sequential id \
        (<a href=\"https://app.example/invoice/2\">example</a>).</p>\
        <h2>Steps to reproduce</h2><ol><li>Log in as A</li><li>Fetch invoice 2</li></ol>\
        <blockquote>On Monday you wrote: Impact: none</blockquote>\
        <h2>Impact</h2><p>Any customer's invoices are readable.</p></body></html>";
    check(&Case {
        name: "html",
        subject: None,
        text: html_to_text(html),
        expect: vec![
            (FieldName::Title, Some("IDOR on invoices")),
            (FieldName::Severity, Some("low")),
            (
                FieldName::Description,
                Some(
                    "Invoices are fetched by sequential id ([example](https://app.example/invoice/2)).",
                ),
            ),
            (
                FieldName::StepsToReproduce,
                Some("1. Log in as A\n2. Fetch invoice 2"),
            ),
            (
                FieldName::Impact,
                Some("Any customer's invoices are readable."),
            ),
            (
                FieldName::VulnerabilityType,
                Some("Insecure direct object reference (IDOR)"),
            ),
        ],
    });
}

#[test]
fn shape_mixed() {
    check(&Case {
        name: "mixed",
        subject: Some("RE: Re: XXE in import"),
        text: "Hi, please see below.\n\nComponent: importer\nSeverity: critical\n\n## Details\n\n\
               The XML importer resolves external entities.\nURL: /import\nVersion: 5.0\nstill details\n\n\
               **PoC**\n\n    <!DOCTYPE x [<!ENTITY e SYSTEM \"file:///etc/passwd\">]>\n\n\
               > Impact: from a quoted earlier mail\n\n## Timeline\n\n2024-01-01 reported\n"
            .to_owned(),
        expect: vec![
            (FieldName::Title, Some("XXE in import")),
            (FieldName::AffectedComponent, Some("importer")),
            (FieldName::AffectedVersions, Some("5.0")),
            (FieldName::Severity, Some("critical")),
            (
                FieldName::Description,
                Some(
                    "The XML importer resolves external entities.\nURL: /import\nstill details",
                ),
            ),
            (
                FieldName::ProofOfConcept,
                Some("    <!DOCTYPE x [<!ENTITY e SYSTEM \"file:///etc/passwd\">]>"),
            ),
            (FieldName::Impact, None),
            (FieldName::VulnerabilityType, Some("XML external entity (XXE)")),
        ],
    });
}
