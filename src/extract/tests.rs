//! End-to-end extraction tests, one per report shape.

use super::*;

const V31_CRIT: &str = "CVSS:3.1/AV:N/AC:L/PR:N/UI:N/S:U/C:H/I:H/A:H";
const V31_MED: &str = "CVSS:3.1/AV:N/AC:L/PR:N/UI:R/S:C/C:L/I:L/A:N";

/// Expected values for one report; `None` means "must be absent", fields not listed in `some`
/// are not checked.
struct Case {
    name: &'static str,
    subject: Option<&'static str>,
    text: String,
    expect: Vec<(FieldName, Option<&'static str>)>,
}

fn check(case: &Case) -> Fields {
    let fields = extract(case.subject, &case.text);
    for (name, want) in &case.expect {
        assert_eq!(
            fields.get(*name).as_deref(),
            *want,
            "case {:?}, field {}\nall fields: {fields:#?}",
            case.name,
            name.as_str()
        );
    }
    fields
}

fn key_value_report() -> String {
    format!(
        "Title: SQL injection in login
Vulnerability type: SQLi
Affected component: auth/login.php
Affected versions: 2.0 - 2.3.1
Severity: High
CVSS: {V31_CRIT}
Credit: Jane Doe
Contact: jane@example.org

Description:
The login form concatenates the username into a query.

Any user can log in as admin.

Steps to reproduce:
1. Open /login
2. Enter ' OR 1=1-- as the username
Step 3: submit

Impact:
Full database read.

Suggested fix:
Use prepared statements.
"
    )
}

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

fn markdown_report() -> String {
    format!(
        "# Stored XSS in comment preview

## Summary

Comments are rendered **without** escaping.

## Affected versions

- 3.0
- 3.1

### Steps to Reproduce

1. Post a comment containing the payload.
2. Open the preview.

```html
<script>alert(document.domain)</script>
```

## Proof of Concept

```
curl -d 'c=<script>' https://x/comment
```

**Impact**

Session theft. CVSS vector: `{V31_MED}`

## References

- https://owasp.org/xss
- Impact: this line is under References and must not leak.

## Remediation

Escape on output.
"
    )
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
            (FieldName::AffectedVersions, Some("- 3.0\n- 3.1")),
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

fn prose_report() -> String {
    format!(
        "Hello security team,

I found that the image proxy can be abused for server-side request forgery.
It affects versions 1.2.3 through 1.4.0. I'd say this is a critical issue.

To reproduce:
1. Request /proxy?url=http://169.254.169.254/
2. Observe the metadata in the response.

My vector is {V31_CRIT}.

Thanks,
Jane
-- 
Jane Doe | PGP 0xDEADBEEF
Impact: signature lines must not be parsed
"
    )
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

#[test]
fn crlf_line_endings_match_lf() {
    let lf = key_value_report();
    let crlf = lf.replace('\n', "\r\n");
    assert_eq!(extract(Some("s"), &crlf), extract(Some("s"), &lf));
    let md = markdown_report().replace('\n', "\r\n");
    let fields = extract(None, &md);
    assert_eq!(
        fields.title.as_deref(),
        Some("Stored XSS in comment preview")
    );
    assert!(
        fields
            .description
            .iter()
            .chain(&fields.impact)
            .all(|v| !v.contains('\r'))
    );
}

#[test]
fn non_ascii_text() {
    let fields = check(&Case {
        name: "non-ascii",
        subject: Some("AW: [Sicherheit] Umgehung der Authentifizierung"),
        text: "Titel: ignoriert\nTitle: Contournement d’authentification — ÉTÉ 🔓\n\n\
               Description:\nLe paramètre « admin » est accepté sans vérification. 日本語のテキスト。\n\n\
               Impact: 攻撃者は管理者になれます\n"
            .to_owned(),
        expect: vec![
            (
                FieldName::Title,
                Some("Contournement d’authentification — ÉTÉ 🔓"),
            ),
            (
                FieldName::Description,
                Some("Le paramètre « admin » est accepté sans vérification. 日本語のテキスト。"),
            ),
            (FieldName::Impact, Some("攻撃者は管理者になれます")),
        ],
    });
    assert_eq!(fields.stated_severity, None);
    let subject_only = extract(Some("AW: [Sicherheit] Umgehung der Authentifizierung"), "");
    assert_eq!(
        subject_only.title.as_deref(),
        Some("Umgehung der Authentifizierung")
    );
}

#[test]
fn empty_text() {
    let fields = extract(None, "");
    assert_eq!(fields, Fields::default());
    assert!(fields.present().is_empty());
    let fields = extract(Some("  "), " \n\r\n\t ");
    assert_eq!(fields, Fields::default());
    let fields = extract(Some("Title only"), "");
    assert_eq!(fields.present(), vec![FieldName::Title]);
}

#[test]
fn very_long_line_is_capped_at_char_boundary() {
    let line = "é".repeat(100_000); // 200,000 bytes
    let start = std::time::Instant::now();
    let fields = extract(None, &format!("Description: {line}"));
    assert!(start.elapsed().as_secs() < 10);
    let d = fields.description.unwrap();
    assert!(d.len() <= FIELD_CAP_BYTES);
    assert!(d.len() >= FIELD_CAP_BYTES - 4);
    assert!(d.chars().all(|c| c == 'é'));

    let fields = extract(None, &"x".repeat(1_000_000));
    assert_eq!(fields.description.map(|d| d.len()), Some(FIELD_CAP_BYTES));
}

#[test]
fn ten_thousand_lines_of_garbage_finish_fast() {
    let mut text = String::new();
    let pieces = [
        "```x",
        "## ",
        "**",
        "Title:",
        "1. ",
        "> > >",
        "=====",
        "-----",
        "CVSS:3.1/AV:N/AC:L/",
        "versions 1.2 through",
        "AV:N/AC:L/Au:N/C:P/I:P/",
        "\u{0}\u{1b}[31m",
        "((((((((((",
        "Step 1:",
        "severity severity",
        "<= 1.",
        "# a",
        "~~~",
        "é€😀",
        "to reproduce",
    ];
    let mut seed: u64 = 0x9e37_79b9_7f4a_7c15;
    for _ in 0..10_000 {
        let mut line = String::new();
        for _ in 0..4 {
            seed ^= seed << 13;
            seed ^= seed >> 7;
            seed ^= seed << 17;
            line.push_str(pieces[(seed % pieces.len() as u64) as usize]);
        }
        text.push_str(&line);
        text.push('\n');
    }
    let start = std::time::Instant::now();
    let fields = extract(Some("Re: garbage"), &text);
    let html = html_to_text(&text);
    let _ = extract(None, &html);
    assert!(start.elapsed().as_secs() < 10, "took {:?}", start.elapsed());
    // Whatever came out is bounded and free of control characters.
    for name in FieldName::ALL {
        if let Some(v) = fields.get(name) {
            assert!(v.len() <= FIELD_CAP_BYTES);
            assert!(!v.chars().any(|c| c.is_control() && c != '\n' && c != '\t'));
        }
    }
    assert!(fields.title.is_some());
}

#[test]
fn pathological_repetition_is_linear() {
    let start = std::time::Instant::now();
    for text in [
        "a".repeat(500_000),
        "- ".repeat(200_000),
        "Title:".repeat(100_000),
        "1.".repeat(200_000),
        "\n".repeat(200_000),
        "\n\n1. x".repeat(50_000),
        "to reproduce\n".repeat(50_000),
        "# x\n=====\n".repeat(20_000),
        "**a**\n".repeat(50_000),
        "versions 1.".repeat(50_000),
        " ".repeat(500_000),
    ] {
        let _ = extract(Some(&text), &text);
    }
    assert!(start.elapsed().as_secs() < 30, "took {:?}", start.elapsed());
}

#[test]
fn cvss_versions_end_to_end() {
    let cases: &[(&str, &str, f64, Severity)] = &[
        (V31_CRIT, "3.1", 9.8, Severity::Critical),
        (V31_MED, "3.1", 6.1, Severity::Medium),
        (
            "CVSS:3.0/AV:N/AC:L/PR:N/UI:R/S:C/C:L/I:L/A:N",
            "3.0",
            6.1,
            Severity::Medium,
        ),
        (
            "CVSS:4.0/AV:N/AC:L/AT:N/PR:N/UI:N/VC:H/VI:H/VA:H/SC:N/SI:N/SA:N",
            "4.0",
            9.3,
            Severity::Critical,
        ),
        ("AV:N/AC:L/Au:N/C:P/I:P/A:P", "2.0", 7.5, Severity::High),
    ];
    for (vector, version, score, severity) in cases {
        let text = format!("Severity: low\n\nCVSS vector: {vector}\n");
        let fields = extract(None, &text);
        let cvss = fields.cvss.clone().unwrap();
        assert_eq!(cvss.version, *version, "{vector}");
        assert!(
            (cvss.score - score).abs() < 1e-9,
            "{vector}: {}",
            cvss.score
        );
        assert_eq!(cvss.severity, *severity, "{vector}");
        assert_eq!(fields.severity(), Some(*severity));
        assert_eq!(fields.stated_severity, Some(Severity::Low));
    }
}

#[test]
fn invalid_vector_leaves_stated_severity() {
    let fields = extract(
        None,
        "CVSS: CVSS:3.1/AV:Q/AC:L/PR:N/UI:N/S:U/C:H/I:H/A:H\nSeverity: medium\n",
    );
    assert_eq!(fields.cvss, None);
    assert_eq!(fields.severity(), Some(Severity::Medium));
    let fields = extract(None, "CVSS score: 8.1\n");
    assert_eq!(fields.cvss, None);
    assert_eq!(fields.stated_severity, Some(Severity::High));
}

#[test]
fn informational_maps_to_none() {
    for word in ["informational", "Info", "none", "NONE"] {
        let fields = extract(None, &format!("Severity: {word}\n"));
        assert_eq!(fields.stated_severity, Some(Severity::None), "{word}");
        assert_eq!(fields.get(FieldName::Severity).as_deref(), Some("none"));
    }
}

#[test]
fn poc_is_not_duplicated_from_steps() {
    let fields = extract(
        None,
        "## Steps to reproduce\n\n1. Run:\n\n```sh\ncurl -X POST http://x/\n```\n",
    );
    assert!(fields.steps_to_reproduce.unwrap().contains("curl -X POST"));
    assert_eq!(fields.proof_of_concept, None);
}

#[test]
fn unknown_word_colon_lines_stay_content() {
    let fields = extract(
        None,
        "## Impact\n\nNote: the attacker needs an account.\nHost: example.org\nResult: admin.\n\n## References\n\nImpact-ish text\n",
    );
    assert_eq!(
        fields.impact.as_deref(),
        Some("Note: the attacker needs an account.\nHost: example.org\nResult: admin.")
    );
}

#[test]
fn quoted_reply_is_ignored_but_fully_quoted_report_is_read() {
    let fields = extract(
        None,
        "Sure, more details below.\n\nOn Mon, Jane wrote:\n> Title: old\n> Severity: low\n",
    );
    assert_eq!(fields.title, None);
    assert_eq!(fields.stated_severity, None);
    assert_eq!(
        fields.description.as_deref(),
        Some("Sure, more details below.")
    );
    let fields = extract(None, "> Title: forwarded\n> Severity: high\n");
    assert_eq!(fields.title.as_deref(), Some("forwarded"));
    assert_eq!(fields.stated_severity, Some(Severity::High));
}

#[test]
fn signature_is_removed() {
    let fields = extract(None, "The bug is real.\n-- \nJane\nhttps://jane.example\n");
    assert_eq!(fields.description.as_deref(), Some("The bug is real."));
}

#[test]
fn missing_and_present() {
    let fields = extract(
        Some("XSS in search"),
        "Description: reflected\nCVSS: CVSS:3.1/AV:N/AC:L/PR:N/UI:R/S:C/C:L/I:L/A:N\n",
    );
    assert_eq!(
        fields.present(),
        vec![
            FieldName::Title,
            FieldName::VulnerabilityType,
            FieldName::Description,
            FieldName::CvssVector,
            FieldName::Severity,
        ]
    );
    let required = [
        FieldName::StepsToReproduce,
        FieldName::Title,
        FieldName::Impact,
        FieldName::Severity,
        FieldName::AffectedVersions,
    ];
    assert_eq!(
        fields.missing(&required),
        vec![
            FieldName::StepsToReproduce,
            FieldName::Impact,
            FieldName::AffectedVersions
        ]
    );
    assert!(fields.missing(&[]).is_empty());
    assert_eq!(
        Fields::default().missing(&FieldName::ALL),
        FieldName::ALL.to_vec()
    );
}

#[test]
fn field_names_round_trip() {
    for name in FieldName::ALL {
        assert_eq!(name.as_str().parse::<FieldName>(), Ok(name));
        let json = serde_json::to_string(&name).unwrap();
        assert_eq!(json, format!("\"{}\"", name.as_str()));
        assert!(!name.label().is_empty());
    }
    assert_eq!(
        "Steps-To-Reproduce".parse::<FieldName>(),
        Ok(FieldName::StepsToReproduce)
    );
    let err = "titel".parse::<FieldName>().unwrap_err();
    assert!(
        err.contains("titel") && err.contains("steps_to_reproduce"),
        "{err}"
    );
    assert_eq!(FieldName::CvssVector.label(), "CVSS vector");
    assert_eq!(FieldName::StepsToReproduce.label(), "Steps to reproduce");
    assert_eq!(FieldName::VulnerabilityType.label(), "Vulnerability type");
}

#[test]
fn severity_names_and_order() {
    let all = [
        Severity::None,
        Severity::Low,
        Severity::Medium,
        Severity::High,
        Severity::Critical,
    ];
    for s in all {
        assert_eq!(
            serde_json::to_string(&s).unwrap(),
            format!("\"{}\"", s.as_str())
        );
    }
    assert!(all.windows(2).all(|w| w[0] < w[1]));
}

#[test]
fn fields_serde_round_trip() {
    let fields = extract(Some("x"), &key_value_report());
    let json = serde_json::to_string(&fields).unwrap();
    let back: Fields = serde_json::from_str(&json).unwrap();
    assert_eq!(back, fields);
    assert!(json.contains("\"stated_severity\":\"high\""), "{json}");
}

#[test]
fn get_covers_every_field() {
    let fields = Fields {
        title: Some("t".into()),
        vulnerability_type: Some("vt".into()),
        affected_component: Some("ac".into()),
        affected_versions: Some("av".into()),
        description: Some("d".into()),
        steps_to_reproduce: Some("s".into()),
        proof_of_concept: Some("p".into()),
        impact: Some("i".into()),
        suggested_fix: Some("f".into()),
        cvss: find_cvss(V31_MED),
        stated_severity: Some(Severity::Low),
        credit_name: Some("c".into()),
        contact: Some("m".into()),
    };
    let got: Vec<String> = FieldName::ALL
        .iter()
        .map(|n| fields.get(*n).unwrap())
        .collect();
    assert_eq!(
        got,
        vec![
            "t", "vt", "ac", "av", "d", "s", "p", "i", "f", V31_MED, "medium", "c", "m"
        ]
    );
    assert_eq!(fields.present(), FieldName::ALL.to_vec());
}
