//! Issue 24: field extraction measured on the evaluation corpus, reports modelled on real
//! public advisories and researcher write-ups (`tests/fixtures/extract/corpus/<lang>.txt`,
//! their models listed in `tests/fixtures/extract/SOURCES.md`).
//!
//! The corpus is kept apart from the table tests of `extract_languages`: the extraction is
//! not tuned case by case to it, it is scored on it. The test prints the accuracy per
//! language and per field, then every failing case with what was expected and what came
//! out, and fails when a field's accuracy is below [`FLOOR`].
//!
//! `cargo test --locked --test integration extract_corpus:: -- --nocapture` shows the table;
//! `EXTRACT_CORPUS_CASE=<id prefix>` limits the run to the matching cases.
//!
//! A case:
//!
//! ```text
//! ### case: de-cert-bund-1
//! source: S12                   (an entry of SOURCES.md)
//! lang: de
//! subject: the mail subject
//! html: true                    (optional; `format: html` is read too)
//! expect title: the value       (any name of FieldName::as_str)
//! expect affected: introduced=2.7.0 fixed=2.7.8     (one line per range, in order)
//! expect affected: none                             (no range is readable)
//! expect fixed_versions: 2.7.8 | 3.0.7
//! expect severity: critical     (`none`: the report states none, extraction gives none)
//! expect inferred: severity     (the field must be marked inferred; others must not be)
//! ---
//! the body, up to the next "### case:" line
//! ```
//!
//! Only fields with an `expect` line are scored. Text values compare after collapsing
//! whitespace and trimming trailing punctuation.

use std::collections::BTreeMap;
use std::path::Path;

use disclosured::testing::extract::{self, AffectedRange, FieldName, Fields};

/// The lowest per-field accuracy the test accepts: issue 24's aim, which every field reaches
/// (the lowest, affected_versions as written, at 123 of 127). EVALUATION.md lists what
/// still fails.
const FLOOR: f64 = 0.95;

/// What one `expect` line scores.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord)]
enum Scored {
    Field(FieldName),
    Affected,
    FixedVersions,
    Inferred,
}

impl Scored {
    fn name(&self) -> String {
        match self {
            Scored::Field(f) => f.as_str().to_owned(),
            Scored::Affected => "affected".to_owned(),
            Scored::FixedVersions => "fixed_versions".to_owned(),
            Scored::Inferred => "inferred".to_owned(),
        }
    }
}

#[derive(Debug)]
struct Case {
    id: String,
    lang: String,
    subject: String,
    html: bool,
    /// Field expectations (text values as written).
    expect: Vec<(FieldName, String)>,
    /// `expect affected:` lines, canonical; `None` until a line is seen.
    affected: Option<Vec<String>>,
    fixed_versions: Option<Vec<String>>,
    inferred: Option<Vec<String>>,
    body: String,
}

/// Collapses whitespace and trims trailing punctuation, so that "2.7.8." and "2.7.8" agree.
fn norm(s: &str) -> String {
    let collapsed = s.split_whitespace().collect::<Vec<_>>().join(" ");
    collapsed
        .trim_end_matches(|c: char| ".,;:!?。、，；：！？".contains(c))
        .trim()
        .to_owned()
}

/// `introduced=2.7.0 fixed="8.2R1"` in a fixed key order: introduced, fixed, last_affected.
fn parse_range(spec: &str) -> Result<String, String> {
    let mut keys: BTreeMap<usize, String> = BTreeMap::new();
    let mut rest = spec.trim();
    while !rest.is_empty() {
        let (key, after) = rest
            .split_once('=')
            .ok_or_else(|| format!("no `=` in range {spec:?}"))?;
        let order = match key.trim() {
            "introduced" => 0,
            "fixed" => 1,
            "last_affected" => 2,
            other => return Err(format!("unknown range key {other:?} in {spec:?}")),
        };
        let (value, next) = if let Some(quoted) = after.strip_prefix('"') {
            let end = quoted
                .find('"')
                .ok_or_else(|| format!("unclosed quote in {spec:?}"))?;
            (&quoted[..end], &quoted[end + 1..])
        } else {
            let end = after.find(char::is_whitespace).unwrap_or(after.len());
            (&after[..end], &after[end..])
        };
        keys.insert(order, norm(value));
        rest = next.trim_start();
    }
    Ok(canonical(
        keys.get(&0).map(String::as_str),
        keys.get(&1).map(String::as_str),
        keys.get(&2).map(String::as_str),
    ))
}

fn canonical(introduced: Option<&str>, fixed: Option<&str>, last: Option<&str>) -> String {
    let mut parts = Vec::new();
    for (key, value) in [
        ("introduced", introduced),
        ("fixed", fixed),
        ("last_affected", last),
    ] {
        if let Some(v) = value {
            parts.push(format!("{key}={}", norm(v)));
        }
    }
    parts.join(" ")
}

fn range_of(r: &AffectedRange) -> String {
    canonical(
        r.introduced.as_deref(),
        r.fixed.as_deref(),
        r.last_affected.as_deref(),
    )
}

fn parse(file: &str, default_lang: &str, text: &str) -> Result<Vec<Case>, String> {
    let mut cases = Vec::new();
    for chunk in text.split("### case:").skip(1) {
        let (head, body) = chunk
            .split_once("\n---\n")
            .ok_or_else(|| format!("{file}: a case without a --- line"))?;
        let mut lines = head.lines();
        let mut case = Case {
            id: lines.next().unwrap_or_default().trim().to_owned(),
            lang: default_lang.to_owned(),
            subject: String::new(),
            html: false,
            expect: Vec::new(),
            affected: None,
            fixed_versions: None,
            inferred: None,
            body: body.trim_end().to_owned() + "\n",
        };
        for line in lines.filter(|l| !l.trim().is_empty()) {
            let err = |m: String| format!("{file}: case {}: {m}", case.id);
            let Some((key, value)) = line.split_once(':') else {
                return Err(err(format!("unknown line {line:?}")));
            };
            let value = value.trim();
            match key.trim() {
                "subject" => case.subject = value.to_owned(),
                "lang" => case.lang = value.to_owned(),
                "source" => {}
                "html" => case.html = value == "true",
                "format" => case.html = value == "html",
                "expect affected" => {
                    let list = case.affected.get_or_insert_with(Vec::new);
                    if value != "none" {
                        list.push(parse_range(value).map_err(err)?);
                    }
                }
                "expect fixed_versions" => {
                    case.fixed_versions = Some(
                        value
                            .split('|')
                            .map(norm)
                            .filter(|v| !v.is_empty())
                            .collect(),
                    );
                }
                "expect inferred" => case
                    .inferred
                    .get_or_insert_with(Vec::new)
                    .push(value.to_owned()),
                key => {
                    let name = key
                        .strip_prefix("expect ")
                        .ok_or_else(|| err(format!("unknown line {line:?}")))?;
                    let name: FieldName = name.trim().parse().map_err(err)?;
                    case.expect.push((name, value.replace("\\n", "\n")));
                }
            }
        }
        cases.push(case);
    }
    Ok(cases)
}

fn run(case: &Case) -> Fields {
    let text = if case.html {
        extract::html_to_text(&case.body)
    } else {
        case.body.clone()
    };
    extract::extract(Some(&case.subject), &text)
}

/// One scored comparison: what was expected and what came out, both as shown in the report.
struct Outcome {
    scored: Scored,
    want: String,
    got: String,
}

impl Outcome {
    fn ok(&self) -> bool {
        self.want == self.got
    }
}

fn inferred_names(fields: &Fields) -> Vec<String> {
    let json = serde_json::to_value(fields.inferred).unwrap_or_default();
    let mut names: Vec<String> = json
        .as_object()
        .map(|m| {
            m.iter()
                .filter(|(_, v)| v.as_bool() == Some(true))
                .map(|(k, _)| k.clone())
                .collect()
        })
        .unwrap_or_default();
    names.sort();
    names
}

fn score(case: &Case, fields: &Fields) -> Vec<Outcome> {
    let mut out = Vec::new();
    for (name, want) in &case.expect {
        let got = fields.get(*name).map(|g| norm(&g));
        let want = norm(want);
        let got = match (*name, got) {
            // "none": the report states no severity, so extraction must give none (or the
            // level "none", which reads the same).
            (FieldName::Severity, None) if want == "none" => "none".to_owned(),
            (_, None) => "(none)".to_owned(),
            (_, Some(g)) => g,
        };
        out.push(Outcome {
            scored: Scored::Field(*name),
            want,
            got,
        });
    }
    if let Some(want) = &case.affected {
        let got: Vec<String> = fields.affected.iter().map(range_of).collect();
        let show = |v: &[String]| {
            if v.is_empty() {
                "none".to_owned()
            } else {
                v.join(" ; ")
            }
        };
        out.push(Outcome {
            scored: Scored::Affected,
            want: show(want),
            got: show(&got),
        });
    }
    if let Some(want) = &case.fixed_versions {
        let got: Vec<String> = fields.fixed_versions.iter().map(|v| norm(v)).collect();
        out.push(Outcome {
            scored: Scored::FixedVersions,
            want: want.join(" | "),
            got: got.join(" | "),
        });
    }
    if let Some(want) = &case.inferred {
        let mut want = want.clone();
        want.sort();
        out.push(Outcome {
            scored: Scored::Inferred,
            want: want.join(", "),
            got: inferred_names(fields).join(", "),
        });
    }
    out
}

#[derive(Default, Clone, Copy)]
struct Tally {
    right: usize,
    total: usize,
}

impl Tally {
    fn add(&mut self, ok: bool) {
        self.total += 1;
        self.right += usize::from(ok);
    }
    fn rate(self) -> f64 {
        if self.total == 0 {
            1.0
        } else {
            self.right as f64 / self.total as f64
        }
    }
    fn show(self) -> String {
        if self.total == 0 {
            "·".to_owned()
        } else {
            format!("{}/{}", self.right, self.total)
        }
    }
}

fn corpus() -> Vec<Case> {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/extract/corpus");
    let mut files: Vec<_> = std::fs::read_dir(&dir)
        .unwrap_or_else(|e| panic!("{}: {e}", dir.display()))
        .filter_map(Result::ok)
        .map(|e| e.path())
        .filter(|p| p.extension().is_some_and(|x| x == "txt"))
        .collect();
    files.sort();
    let mut cases = Vec::new();
    for path in files {
        let file = path.file_name().unwrap().to_string_lossy().into_owned();
        let lang = file.trim_end_matches(".txt").to_owned();
        let text = std::fs::read_to_string(&path).unwrap();
        cases.extend(parse(&file, &lang, &text).unwrap_or_else(|e| panic!("{e}")));
    }
    cases
}

#[test]
fn accuracy_on_the_evaluation_corpus() {
    let only = std::env::var("EXTRACT_CORPUS_CASE").ok();
    let cases: Vec<Case> = corpus()
        .into_iter()
        .filter(|c| only.as_deref().is_none_or(|p| c.id.starts_with(p)))
        .collect();
    assert!(!cases.is_empty(), "no corpus cases");

    let mut by_field: BTreeMap<Scored, Tally> = BTreeMap::new();
    let mut by_cell: BTreeMap<(String, Scored), Tally> = BTreeMap::new();
    let mut by_lang: BTreeMap<String, Tally> = BTreeMap::new();
    let mut whole_cases: BTreeMap<String, Tally> = BTreeMap::new();
    let mut failures = Vec::new();
    for case in &cases {
        let fields = run(case);
        let outcomes = score(case, &fields);
        whole_cases
            .entry(case.lang.clone())
            .or_default()
            .add(outcomes.iter().all(Outcome::ok));
        for o in outcomes {
            let ok = o.ok();
            by_field.entry(o.scored.clone()).or_default().add(ok);
            by_lang.entry(case.lang.clone()).or_default().add(ok);
            by_cell
                .entry((case.lang.clone(), o.scored.clone()))
                .or_default()
                .add(ok);
            if !ok {
                failures.push(format!(
                    "{} [{}]: want {:?}\n{}   got  {:?}",
                    case.id,
                    o.scored.name(),
                    o.want,
                    " ".repeat(case.id.len()),
                    o.got
                ));
            }
        }
    }

    // The table: one row per language, one column per scored field.
    let columns: Vec<Scored> = by_field.keys().cloned().collect();
    let mut table = String::new();
    table.push_str("| lang | cases | all right |");
    for c in &columns {
        table.push_str(&format!(" {} |", c.name()));
    }
    table.push_str(" fields |\n|---|---|---|");
    table.push_str(&"---|".repeat(columns.len() + 1));
    table.push('\n');
    for (lang, tally) in &by_lang {
        let whole = whole_cases.get(lang).copied().unwrap_or_default();
        table.push_str(&format!("| {lang} | {} | {} |", whole.total, whole.show()));
        for c in &columns {
            let cell = by_cell
                .get(&(lang.clone(), c.clone()))
                .copied()
                .unwrap_or_default();
            table.push_str(&format!(" {} |", cell.show()));
        }
        table.push_str(&format!(" {:.1}% |\n", 100.0 * tally.rate()));
    }
    let whole = whole_cases.values().fold(Tally::default(), |a, t| Tally {
        right: a.right + t.right,
        total: a.total + t.total,
    });
    table.push_str(&format!("| **all** | {} | {} |", whole.total, whole.show()));
    for c in &columns {
        let t = by_field[c];
        table.push_str(&format!(" {} ({:.1}%) |", t.show(), 100.0 * t.rate()));
    }
    let all = by_field.values().fold(Tally::default(), |a, t| Tally {
        right: a.right + t.right,
        total: a.total + t.total,
    });
    table.push_str(&format!(" {:.1}% |\n", 100.0 * all.rate()));
    println!("{table}");
    println!(
        "{} failing field(s):\n{}",
        failures.len(),
        failures.join("\n")
    );

    let below: Vec<String> = by_field
        .iter()
        .filter(|(_, t)| t.rate() < FLOOR)
        .map(|(f, t)| format!("{} {} ({:.1}%)", f.name(), t.show(), 100.0 * t.rate()))
        .collect();
    assert!(
        below.is_empty(),
        "fields below {:.0}%: {}\n\n{table}\n{}",
        100.0 * FLOOR,
        below.join(", "),
        failures.join("\n")
    );
}

#[test]
fn range_lines_read_in_a_fixed_order() {
    assert_eq!(
        parse_range(r#"fixed=2.7.8 introduced="8.2R1""#).unwrap(),
        "introduced=8.2R1 fixed=2.7.8"
    );
    assert!(parse_range("start=1").is_err());
    assert_eq!(norm(" 2.7.8.\n"), "2.7.8");
}

/// Issue 24 end to end: a report whose versions come one range per release line, with the
/// fixed versions stated apart and the severity in a sentence, goes through `run-once`;
/// `reports show --json` gives every range, the fixed versions and the inferred severity,
/// and the text view prints the ranges readably.
#[test]
fn reports_show_gives_every_range_and_the_fixed_versions() {
    use crate::util::{GATEWAY, Gateway, message};
    let gw = Gateway::new();
    let body = "Hello,\n\nVulnerability name: Pre-auth path traversal in the VPN portal\n\n\
        The portal resolves \"../\" after it checked the path.\n\n\
        Affected versions:\n\
        - 2.7.x before 2.7.8\n\
        - 3.0.x before 3.0.7\n\
        Fixed in: 2.7.8, 3.0.7\n\n\
        The issue was rated critical by the vendor's own PSIRT.\n\n\
        Regards,\nJonas Eklund\njonas@eklund.example.net\n";
    gw.deliver(&message(
        &[
            ("From", "Jonas <jonas@eklund.example.net>"),
            ("To", GATEWAY),
            ("Subject", "Security report"),
            ("Message-ID", "<ranges-1@example.net>"),
            ("Content-Type", "text/plain; charset=utf-8"),
        ],
        body,
    ));
    gw.run_once();
    let reports = gw.reports();
    assert_eq!(reports.len(), 1, "{reports:?}");
    let id = reports[0]["id"].as_str().unwrap().to_owned();
    let shown = gw.json(&["reports", "show", &id, "--json"]);
    let fields = &shown["fields"];
    assert_eq!(
        fields["title"], "Pre-auth path traversal in the VPN portal",
        "{fields:#}"
    );
    assert_eq!(
        fields["affected"],
        serde_json::json!([
            {"introduced": "2.7.0", "fixed": "2.7.8", "text": "2.7.x before 2.7.8"},
            {"introduced": "3.0.0", "fixed": "3.0.7", "text": "3.0.x before 3.0.7"},
        ]),
        "{fields:#}"
    );
    assert_eq!(
        fields["fixed_versions"],
        serde_json::json!(["2.7.8", "3.0.7"])
    );
    assert_eq!(
        fields["affected_versions"],
        "2.7.x before 2.7.8\n3.0.x before 3.0.7"
    );
    assert_eq!(shown["severity"], "critical");
    assert_eq!(fields["inferred"]["severity"], true);
    assert_eq!(fields["credit_name"], "Jonas Eklund");
    assert_eq!(fields["contact"], "jonas@eklund.example.net");
    let text = gw.cli(&["reports", "show", &id]);
    assert!(text.status.success());
    let text = String::from_utf8_lossy(&text.stdout);
    assert!(
        text.contains("Affected ranges:\n  from 2.7.0, fixed in 2.7.8 (2.7.x before 2.7.8)\n  from 3.0.0, fixed in 3.0.7 (3.0.x before 3.0.7)\nFixed versions: 2.7.8, 3.0.7"),
        "{text}"
    );
}
