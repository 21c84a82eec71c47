//! Issue 16: field extraction in the languages and layouts researchers write, one table of
//! reports per language in `tests/fixtures/extract/<language>.txt`.
//!
//! Each report is a case:
//!
//! ```text
//! ### case: de-colon-list
//! subject: the mail subject
//! format: html                  (optional: the body is HTML, converted as the pipeline does)
//! expect title: the value       (`\n` for a line break; any field name of FieldName)
//! expect severity: high         (the level, from a vector or from words)
//! expect inferred: affected_versions
//! ---
//! the body, up to the next "### case:" line
//! ```
//!
//! A field named in an `expect` line must have exactly that value, must not be in the
//! acknowledgement's missing-fields list (`Fields::missing`), and is inferred only when an
//! `expect inferred:` line says so.

use std::path::Path;

use disclosured::testing::extract::{self, FieldName, Fields};

const LANGUAGES: &[&str] = &[
    "en", "de", "fr", "es", "it", "pt", "nl", "ru", "uk", "pl", "zh-Hans", "zh-Hant", "ja", "ko",
];

struct Case {
    name: String,
    subject: String,
    html: bool,
    expect: Vec<(FieldName, String)>,
    inferred: Vec<FieldName>,
    body: String,
}

fn parse(language: &str, text: &str) -> Vec<Case> {
    let mut cases = Vec::new();
    for chunk in text.split("### case:").skip(1) {
        let (head, body) = chunk
            .split_once("\n---\n")
            .unwrap_or_else(|| panic!("{language}: a case without a --- line"));
        let mut lines = head.lines();
        let mut case = Case {
            name: lines.next().unwrap_or_default().trim().to_owned(),
            subject: String::new(),
            html: false,
            expect: Vec::new(),
            inferred: Vec::new(),
            body: body.trim_end().to_owned() + "\n",
        };
        for line in lines.filter(|l| !l.trim().is_empty()) {
            if let Some(v) = line.strip_prefix("subject:") {
                case.subject = v.trim().to_owned();
            } else if line.trim() == "format: html" {
                case.html = true;
            } else if let Some(v) = line.strip_prefix("expect inferred:") {
                case.inferred.push(v.trim().parse().unwrap());
            } else if let Some(rest) = line.strip_prefix("expect ") {
                let (name, value) = rest.split_once(':').unwrap();
                let name: FieldName = name.trim().parse().unwrap();
                case.expect.push((name, value.trim().replace("\\n", "\n")));
            } else {
                panic!("{language}: case {}: unknown line {line:?}", case.name);
            }
        }
        cases.push(case);
    }
    cases
}

fn run(case: &Case) -> Fields {
    let text = if case.html {
        extract::html_to_text(&case.body)
    } else {
        case.body.clone()
    };
    extract::extract(Some(&case.subject), &text)
}

#[test]
fn reports_in_every_language_and_layout() {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/extract");
    let mut total = 0;
    let mut failures = Vec::new();
    for language in LANGUAGES {
        let text = std::fs::read_to_string(dir.join(format!("{language}.txt"))).unwrap();
        let cases = parse(language, &text);
        assert!(cases.len() >= 4, "{language}: only {} reports", cases.len());
        total += cases.len();
        for case in &cases {
            let fields = run(case);
            let missing = fields.missing(&FieldName::ALL);
            for (name, want) in &case.expect {
                let got = fields.get(*name);
                if got.as_deref() != Some(want.as_str()) {
                    failures.push(format!("{}: {name}: want {want:?}, got {got:?}", case.name));
                }
                if missing.contains(name) {
                    failures.push(format!("{}: {name} listed as missing", case.name));
                }
            }
            let inferred = fields.inferred.affected_versions;
            let want_inferred = case.inferred.contains(&FieldName::AffectedVersions);
            if inferred != want_inferred {
                failures.push(format!(
                    "{}: affected_versions inferred {inferred}, want {want_inferred}",
                    case.name
                ));
            }
        }
    }
    assert!(
        failures.is_empty(),
        "{} failures:\n{}",
        failures.len(),
        failures.join("\n")
    );
    assert!(total >= 60, "only {total} reports");
}

/// `reports show --json` serialises `Fields`: an inferred field says so.
#[test]
fn inferred_versions_are_marked_in_json() {
    let fields = extract::extract(Some("x"), "All versions before 2.4.1 are affected.\n");
    let json = serde_json::to_value(&fields).unwrap();
    assert_eq!(json["affected_versions"], "versions before 2.4.1");
    assert_eq!(json["inferred"]["affected_versions"], true);
    let labelled = extract::extract(Some("x"), "Affected versions: 2.4.0\n");
    let json = serde_json::to_value(&labelled).unwrap();
    assert_eq!(json["inferred"]["affected_versions"], false);
    // Stored reports from before the field existed still decode.
    let old: Fields = serde_json::from_str(r#"{"title":"t","affected_versions":"1.0"}"#).unwrap();
    assert!(!old.inferred.affected_versions);
}
