//! Field extraction: time per report through `extract::extract`, for English reports and
//! for reports in the languages and layouts of issue 16.
//!
//! Two corpora, each cycled to N reports (English reports made distinct by their number in the
//! component, version and title; fixture reports by their subject):
//! - `english`: five English shapes written in this file (key-value lines, Markdown
//!   sections, prose, numbered sections, an HTML body), the shapes extraction handled
//!   before issue 16;
//! - `mixed`: the `english` shapes plus every report of the extraction table tests
//!   (`tests/fixtures/extract/*.txt`, read at start-up, not timed): 14 languages, heading
//!   symbols, inline labels, dotted leaders, HTML tables and definition lists.
//!
//! HTML bodies go through `extract::html_to_text` first, inside the timed part, as the
//! pipeline does. Each corpus runs RUNS times; the median run is reported.
//!
//! `cargo bench --bench extract -- 10000 5` (reports, runs).

#![allow(
    unreachable_pub,
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing
)]

use std::path::Path;
use std::time::Instant;

use disclosured::testing::extract;

/// One report as the pipeline would hand it over.
struct Input {
    subject: String,
    body: String,
    html: bool,
}

fn english(i: usize) -> Input {
    let shape = i % 5;
    let (subject, body, html) = match shape {
        0 => (
            format!("Vulnerability report: SQL injection in login ({i})"),
            format!(
                "Title: SQL injection in login {i}\nVulnerability type: SQLi\nAffected component: auth/login{i}.php\n\
                 Affected versions: 2.{i} - 2.{i}.9\nSeverity: High\nCVSS: CVSS:3.1/AV:N/AC:L/PR:N/UI:N/S:U/C:H/I:H/A:H\n\
                 Credit: Jane Doe\nContact: jane@example.org\n\nDescription:\nThe login form concatenates the username \
                 into a query.\n\nAny user can log in as admin.\n\nSteps to reproduce:\n1. Open /login\n2. Enter ' OR 1=1-- \
                 as the username\n3. Submit\n\nImpact:\nFull database read.\n\nSuggested fix:\nUse prepared statements.\n"
            ),
            false,
        ),
        1 => (
            format!("Stored XSS {i}"),
            format!(
                "# Stored XSS in comment preview {i}\n\n## Summary\n\nComments are rendered **without** escaping.\n\n\
                 ## Affected versions\n\n- 3.{i}\n- 3.{i}.1\n\n### Steps to Reproduce\n\n1. Post a comment containing the \
                 payload.\n2. Open the preview.\n\n```html\n<script>alert(document.domain)</script>\n```\n\n\
                 ## Proof of Concept\n\n```\ncurl -d 'c=<script>' https://x/comment\n```\n\n**Impact**\n\nSession theft. \
                 CVSS vector: `CVSS:3.1/AV:N/AC:L/PR:N/UI:R/S:C/C:L/I:L/A:N`\n\n## References\n\n- https://owasp.org/xss\n\n\
                 ## Remediation\n\nEscape on output.\n"
            ),
            false,
        ),
        2 => (
            format!("Fwd: [vuln] Security issue: SSRF in image proxy {i}"),
            format!(
                "Hello security team,\n\nI found that the image proxy can be abused for server-side request forgery.\n\
                 It affects versions 1.{i}.3 through 1.{i}.9. I'd say this is a critical issue.\n\nTo reproduce:\n\
                 1. Request /proxy?url=http://169.254.169.254/\n2. Observe the metadata in the response.\n\n\
                 My vector is CVSS:3.1/AV:N/AC:L/PR:N/UI:N/S:U/C:H/I:H/A:H.\n\nThanks,\nJane\n-- \nJane Doe | PGP 0xDEADBEEF\n"
            ),
            false,
        ),
        3 => (
            format!("Path traversal {i}"),
            format!(
                "1. Title: Path traversal in download {i}\n2) Description\nThe file parameter accepts ../ sequences.\n\
                 3. Steps to reproduce:\n1. Request /download?file=../../etc/passwd\n2. Observe the response\n\
                 4. Impact\nArbitrary file read.\n5. Suggested fix:\nCanonicalise paths.\n6. Affected version: 4.{i}\n"
            ),
            false,
        ),
        _ => (
            format!("IDOR {i}"),
            format!(
                "<html><body><h1>IDOR on invoices {i}</h1><p><strong>Severity:</strong> Low</p>\
                 <h2>Description</h2><p>Invoices are fetched by sequential id \
                 (<a href=\"https://app.example/invoice/{i}\">example</a>).</p>\
                 <h2>Steps to reproduce</h2><ol><li>Log in as A</li><li>Fetch invoice {i}</li></ol>\
                 <h2>Impact</h2><p>Any customer's invoices are readable.</p></body></html>"
            ),
            true,
        ),
    };
    Input {
        subject,
        body,
        html,
    }
}

/// The reports of the table tests: the body after each case's `---` line, up to the next
/// `### case:` line (the format is described in tests/integration/extract_languages.rs).
fn fixtures() -> Vec<Input> {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/extract");
    let Ok(entries) = std::fs::read_dir(&dir) else {
        return Vec::new();
    };
    // The tables only (`<language>.txt`): SOURCES.md, the corpus checker and the
    // evaluation corpus (issue 24, a directory) are not part of this bench's input.
    let mut paths: Vec<_> = entries
        .map(|e| e.unwrap().path())
        .filter(|p| p.is_file() && p.extension().is_some_and(|x| x == "txt"))
        .collect();
    paths.sort();
    let mut out = Vec::new();
    for path in paths {
        let text = std::fs::read_to_string(&path).unwrap();
        for case in text.split("### case:").skip(1) {
            let (head, body) = case.split_once("\n---\n").unwrap();
            let field = |key: &str| {
                head.lines()
                    .find_map(|l| l.strip_prefix(key))
                    .map(|v| v.trim().to_owned())
            };
            out.push(Input {
                subject: field("subject:").unwrap_or_default(),
                html: field("format:").as_deref() == Some("html"),
                body: body.to_owned(),
            });
        }
    }
    out
}

fn run(inputs: &[Input]) -> f64 {
    let start = Instant::now();
    let mut present = 0usize;
    for input in inputs {
        let text = if input.html {
            extract::html_to_text(&input.body)
        } else {
            input.body.clone()
        };
        let fields = extract::extract(Some(&input.subject), &text);
        present += fields.present().len();
    }
    let elapsed = start.elapsed();
    assert!(present > 0);
    elapsed.as_secs_f64() * 1e6 / inputs.len() as f64
}

fn median(mut v: Vec<f64>) -> f64 {
    v.sort_by(f64::total_cmp);
    v[v.len() / 2]
}

fn main() {
    let args: Vec<String> = std::env::args()
        .skip(1)
        .filter(|a| !a.starts_with("--"))
        .collect();
    let n: usize = args.first().map_or(10_000, |a| a.parse().unwrap());
    let runs: usize = args.get(1).map_or(5, |a| a.parse().unwrap());

    let english_inputs: Vec<Input> = (0..n).map(english).collect();
    let corpus = fixtures();
    let mixed_inputs: Vec<Input> = (0..n)
        .map(|i| {
            // Every sixth report is one of the English shapes, the rest the fixtures in turn.
            if corpus.is_empty() || i % 6 == 0 {
                return english(i);
            }
            let c = &corpus[i % corpus.len()];
            Input {
                subject: format!("{} {i}", c.subject),
                body: c.body.clone(),
                html: c.html,
            }
        })
        .collect();

    // Warm-up: compiles the lazily built patterns outside the timed runs.
    run(&english_inputs[..english_inputs.len().min(100)]);
    let english_us = median((0..runs).map(|_| run(&english_inputs)).collect());
    println!("english: {n} reports, median of {runs} runs: {english_us:.1} µs per report");
    if corpus.is_empty() {
        println!("mixed: no fixtures in tests/fixtures/extract");
        return;
    }
    let mixed_us = median((0..runs).map(|_| run(&mixed_inputs)).collect());
    println!(
        "mixed: {n} reports ({} fixture reports in turn, every sixth English), median of {runs} runs: {mixed_us:.1} µs per report",
        corpus.len()
    );
    println!("mixed / english: {:.2}", mixed_us / english_us);
}
