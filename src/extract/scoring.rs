//! Finding CVSS vectors in free text and scoring them with the `cvss` crate.

use std::collections::HashSet;
use std::panic::{AssertUnwindSafe, catch_unwind};
use std::str::FromStr;
use std::sync::LazyLock;

use regex::Regex;

use super::fields::{Cvss, Severity};
use super::text::compile;

/// Longest candidate handed to the parser; real vectors (v4 with every optional metric) are
/// well under this, so anything longer is junk.
const MAX_VECTOR_LEN: usize = 512;

static PREFIXED: LazyLock<Option<Regex>> = LazyLock::new(|| {
    compile(r"(?i)(?-u:\b)CVSS:(3\.0|3\.1|4\.0)((?:/[A-Za-z]{1,3}:[A-Za-z]{1,5})+)")
});
/// A v3 base vector written without its "CVSS:3.x/" prefix.
static BARE_V3: LazyLock<Option<Regex>> = LazyLock::new(|| {
    compile(
        r"(?i)(?-u:\b)(AV:[A-Za-z]/AC:[A-Za-z]/PR:[A-Za-z]/UI:[A-Za-z]/S:[A-Za-z]/C:[A-Za-z]/I:[A-Za-z]/A:[A-Za-z](?:/[A-Za-z]{1,3}:[A-Za-z]{1,3})*)",
    )
});
static V2: LazyLock<Option<Regex>> = LazyLock::new(|| {
    compile(
        r"(?i)(?-u:\b)(AV:[A-Za-z]/AC:[A-Za-z]/Au:[A-Za-z]/C:[A-Za-z]/I:[A-Za-z]/A:[A-Za-z](?:/[A-Za-z]{1,3}:[A-Za-z]{1,3})*)",
    )
});

const V3_BASE: [&str; 8] = ["AV", "AC", "PR", "UI", "S", "C", "I", "A"];
const V4_BASE: [&str; 11] = [
    "AV", "AC", "AT", "PR", "UI", "VC", "VI", "VA", "SC", "SI", "SA",
];

/// Find and score the first CVSS vector anywhere in the text: "CVSS:3.1/AV:N/AC:L/...",
/// "CVSS:3.0/...", "CVSS:4.0/...", also in forms like "CVSS vector: CVSS:3.1/..." or wrapped in
/// backticks/parentheses. A v3 base vector without prefix is read as 3.1. A v2 vector
/// ("AV:N/AC:L/Au:N/C:P/I:P/A:P", optionally "(AV:...)" or "CVSS2#AV:...") is accepted only when no
/// v3/v4 vector is present. Invalid candidates are skipped.
pub fn find_cvss(text: &str) -> Option<Cvss> {
    first_valid(PREFIXED.as_ref(), text, |caps| {
        let version = caps.get(1)?.as_str();
        let metrics = caps.get(2)?.as_str();
        score_v3_v4(version, metrics)
    })
    .or_else(|| {
        first_valid(BARE_V3.as_ref(), text, |caps| {
            score_v3_v4("3.1", &format!("/{}", caps.get(1)?.as_str()))
        })
    })
    .or_else(|| first_valid(V2.as_ref(), text, |caps| score_v2(caps.get(1)?.as_str())))
}

fn first_valid(
    re: Option<&Regex>,
    text: &str,
    score: impl Fn(&regex::Captures<'_>) -> Option<Cvss>,
) -> Option<Cvss> {
    let re = re?;
    re.captures_iter(text).find_map(|caps| {
        let whole = caps.get(0)?;
        // "A:Hx" or "A:H1": the vector runs on into something else.
        let next = text.get(whole.end()..)?.chars().next();
        if next.is_some_and(|c| c.is_ascii_alphanumeric() || c == ':') {
            return None;
        }
        if whole.len() > MAX_VECTOR_LEN {
            return None;
        }
        score(&caps)
    })
}

/// Metric ids in order, uppercased; `None` on duplicates (the crate rejects them too, but this
/// also guards the mandatory-metric check below).
fn metric_ids(metrics: &str) -> Option<Vec<String>> {
    let mut seen = HashSet::new();
    let mut ids = Vec::new();
    for part in metrics.split('/').filter(|p| !p.is_empty()) {
        let (id, _) = part.split_once(':')?;
        let id = id.to_ascii_uppercase();
        if !seen.insert(id.clone()) {
            return None;
        }
        ids.push(id);
    }
    Some(ids)
}

fn score_v3_v4(version: &str, metrics: &str) -> Option<Cvss> {
    let ids = metric_ids(metrics)?;
    // The crate scores v3 vectors with missing base metrics as if they were zero and panics on
    // v4 ones, so incomplete vectors are rejected here.
    let required: &[&str] = if version == "4.0" { &V4_BASE } else { &V3_BASE };
    if !required.iter().all(|r| ids.iter().any(|id| id == r)) {
        return None;
    }
    let candidate = format!("CVSS:{version}{}", metrics.to_ascii_uppercase());
    let parsed = cvss::Cvss::from_str(&candidate).ok()?;
    let (score, severity) = guarded_score(|| (parsed.score(), parsed.severity()))?;
    Some(Cvss {
        version: version.to_owned(),
        vector: parsed.to_string(),
        score: round1(score),
        severity: map_severity(severity),
    })
}

fn score_v2(metrics: &str) -> Option<Cvss> {
    let normalised: Vec<String> = metrics
        .split('/')
        .map(|part| {
            let (id, value) = part.split_once(':').unwrap_or((part, ""));
            let id = if id.eq_ignore_ascii_case("au") {
                "Au".to_owned()
            } else {
                id.to_ascii_uppercase()
            };
            format!("{id}:{}", value.to_ascii_uppercase())
        })
        .collect();
    let parsed = cvss::v2::Vector::from_str(&normalised.join("/")).ok()?;
    let (score, severity) = guarded_score(|| {
        let s = parsed.score();
        (s.value(), s.severity())
    })?;
    Some(Cvss {
        version: "2.0".to_owned(),
        vector: parsed.to_string(),
        score: round1(score),
        severity: map_severity(severity),
    })
}

/// Scoring is pure arithmetic and table lookups, but it lives in a dependency and this input is
/// hostile, so a panic there costs the vector rather than the report.
fn guarded_score<T>(f: impl FnOnce() -> T) -> Option<T> {
    catch_unwind(AssertUnwindSafe(f)).ok()
}

fn round1(score: f64) -> f64 {
    if score.is_finite() {
        (score * 10.0).round() / 10.0
    } else {
        0.0
    }
}

fn map_severity(s: cvss::Severity) -> Severity {
    match s {
        cvss::Severity::None => Severity::None,
        cvss::Severity::Low => Severity::Low,
        cvss::Severity::Medium => Severity::Medium,
        cvss::Severity::High => Severity::High,
        cvss::Severity::Critical => Severity::Critical,
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::indexing_slicing)]
mod tests {
    use super::*;

    /// Expected scores were computed independently from the FIRST specification formulas and
    /// cross-checked against the FIRST/NVD calculators (see comments per row).
    #[test]
    fn scores_table() {
        let cases: &[(&str, &str, &str, f64, Severity)] = &[
            // v3.1 RCE-style: ISS=0.9148, impact=5.873, exploitability=3.887 -> 9.8
            (
                "CVSS:3.1/AV:N/AC:L/PR:N/UI:N/S:U/C:H/I:H/A:H",
                "3.1",
                "CVSS:3.1/AV:N/AC:L/PR:N/UI:N/S:U/C:H/I:H/A:H",
                9.8,
                Severity::Critical,
            ),
            // Reflected XSS: scope changed, ISS=0.3916, impact=2.727, expl=2.835, x1.08 -> 6.1
            (
                "CVSS:3.1/AV:N/AC:L/PR:N/UI:R/S:C/C:L/I:L/A:N",
                "3.1",
                "CVSS:3.1/AV:N/AC:L/PR:N/UI:R/S:C/C:L/I:L/A:N",
                6.1,
                Severity::Medium,
            ),
            // Same metrics under 3.0 rounding.
            (
                "CVSS:3.0/AV:N/AC:L/PR:N/UI:N/S:U/C:H/I:H/A:H",
                "3.0",
                "CVSS:3.0/AV:N/AC:L/PR:N/UI:N/S:U/C:H/I:H/A:H",
                9.8,
                Severity::Critical,
            ),
            // Local/high/low-priv, C:H only: impact=3.595, expl=1.048 -> 4.7
            (
                "CVSS:3.1/AV:L/AC:H/PR:L/UI:N/S:U/C:H/I:N/A:N",
                "3.1",
                "CVSS:3.1/AV:L/AC:H/PR:L/UI:N/S:U/C:H/I:N/A:N",
                4.7,
                Severity::Medium,
            ),
            // No impact at all -> 0.0 None.
            (
                "CVSS:3.1/AV:N/AC:L/PR:N/UI:N/S:U/C:N/I:N/A:N",
                "3.1",
                "CVSS:3.1/AV:N/AC:L/PR:N/UI:N/S:U/C:N/I:N/A:N",
                0.0,
                Severity::None,
            ),
            // v4 macro vector 000200 -> 9.3 (FIRST v4 calculator).
            (
                "CVSS:4.0/AV:N/AC:L/AT:N/PR:N/UI:N/VC:H/VI:H/VA:H/SC:N/SI:N/SA:N",
                "4.0",
                "CVSS:4.0/AV:N/AC:L/AT:N/PR:N/UI:N/VC:H/VI:H/VA:H/SC:N/SI:N/SA:N",
                9.3,
                Severity::Critical,
            ),
            // v4 all-none impact -> 0.0 None.
            (
                "CVSS:4.0/AV:N/AC:L/AT:N/PR:N/UI:N/VC:N/VI:N/VA:N/SC:N/SI:N/SA:N",
                "4.0",
                "CVSS:4.0/AV:N/AC:L/AT:N/PR:N/UI:N/VC:N/VI:N/VA:N/SC:N/SI:N/SA:N",
                0.0,
                Severity::None,
            ),
            // v2: impact=6.443, exploitability=10.0 -> 7.5 High (NVD band).
            (
                "AV:N/AC:L/Au:N/C:P/I:P/A:P",
                "2.0",
                "AV:N/AC:L/Au:N/C:P/I:P/A:P",
                7.5,
                Severity::High,
            ),
            // v2 full compromise: impact=10.001, expl=9.997 -> 10.0.
            (
                "(AV:N/AC:L/Au:N/C:C/I:C/A:C)",
                "2.0",
                "AV:N/AC:L/Au:N/C:C/I:C/A:C",
                10.0,
                Severity::High,
            ),
            // v2 C:P only: impact=2.863, expl=9.997 -> 4.958 -> 5.0 Medium.
            (
                "CVSS2#AV:N/AC:L/Au:N/C:P/I:N/A:N",
                "2.0",
                "AV:N/AC:L/Au:N/C:P/I:N/A:N",
                5.0,
                Severity::Medium,
            ),
            // v2 local, high complexity: impact=2.863, expl=1.947 -> 1.2 Low.
            (
                "AV:L/AC:H/Au:N/C:P/I:N/A:N",
                "2.0",
                "AV:L/AC:H/Au:N/C:P/I:N/A:N",
                1.2,
                Severity::Low,
            ),
        ];
        for (input, version, vector, score, severity) in cases {
            let got = find_cvss(input).unwrap_or_else(|| unreachable!("no vector in {input}"));
            assert_eq!(got.version, *version, "{input}");
            assert_eq!(got.vector, *vector, "{input}");
            assert!((got.score - score).abs() < 1e-9, "{input}: {}", got.score);
            assert_eq!(got.severity, *severity, "{input}");
        }
    }

    #[test]
    fn vectors_are_found_in_context() {
        let v = "CVSS:3.1/AV:N/AC:L/PR:N/UI:N/S:U/C:H/I:H/A:H";
        for text in [
            format!("CVSS vector: {v}"),
            format!("The score is 9.8 (`{v}`)."),
            format!("Rated ({v}) critical"),
            "cvss:3.1/av:n/ac:l/pr:n/ui:n/s:u/c:h/i:h/a:h".to_owned(),
            format!("CVSS: {v}/"),
            format!("line one\n  {v}\nline three"),
            "AV:N/AC:L/PR:N/UI:N/S:U/C:H/I:H/A:H (3.1 without prefix)".to_owned(),
        ] {
            let got = find_cvss(&text).unwrap_or_else(|| unreachable!("none in {text}"));
            assert_eq!(got.vector, v, "{text}");
            assert!((got.score - 9.8).abs() < 1e-9);
        }
    }

    #[test]
    fn invalid_candidates_are_skipped() {
        let good = "CVSS:3.1/AV:N/AC:L/PR:N/UI:R/S:C/C:L/I:L/A:N";
        let text = format!(
            "first CVSS:3.1/AV:X/AC:L/PR:N/UI:N/S:U/C:H/I:H/A:H then \
             CVSS:3.1/AV:N/AC:L then CVSS:3.1/AV:N/AV:N/AC:L/PR:N/UI:N/S:U/C:H/I:H/A:H then \
             CVSS:4.0/AV:N/AC:L then CVSS:5.0/AV:N/AC:L/PR:N/UI:N/S:U/C:H/I:H/A:H then \
             CVSS:3.1/AV:N/AC:L/PR:N/UI:N/S:U/C:H/I:H/A:Hx then {good}"
        );
        let got = find_cvss(&text).unwrap();
        assert_eq!(got.vector, good);
        assert!((got.score - 6.1).abs() < 1e-9);
        assert_eq!(find_cvss("CVSS:3.1/AV:N/AC:L/PR:N"), None);
        assert_eq!(find_cvss("CVSS:4.0/AV:N/AC:L/AT:N/PR:N/UI:N/VC:H"), None);
        assert_eq!(find_cvss("no vector here"), None);
        assert_eq!(find_cvss(""), None);
    }

    #[test]
    fn v2_only_when_no_v3_or_v4() {
        let text =
            "Old: AV:N/AC:L/Au:N/C:P/I:P/A:P\nNew: CVSS:3.1/AV:N/AC:L/PR:N/UI:R/S:C/C:L/I:L/A:N";
        let got = find_cvss(text).unwrap();
        assert_eq!(got.version, "3.1");
        let text = "Old: AV:N/AC:L/Au:N/C:P/I:P/A:P\nNew: CVSS:4.0/AV:N/AC:L/AT:N/PR:N/UI:N/VC:H/VI:H/VA:H/SC:N/SI:N/SA:N";
        assert_eq!(find_cvss(text).unwrap().version, "4.0");
        let got = find_cvss("Old: AV:N/AC:L/Au:N/C:P/I:P/A:P").unwrap();
        assert_eq!(got.version, "2.0");
    }

    #[test]
    fn v4_with_threat_metrics_and_mixed_case_values() {
        let got =
            find_cvss("CVSS:4.0/AV:N/AC:L/AT:N/PR:N/UI:N/VC:H/VI:H/VA:H/SC:N/SI:N/SA:N/E:U/U:Red")
                .unwrap();
        assert_eq!(got.version, "4.0");
        assert!(
            got.score < 9.3,
            "threat metric E:U lowers the score: {}",
            got.score
        );
        assert!(got.vector.starts_with("CVSS:4.0/AV:N"));
    }

    #[test]
    fn huge_repetitive_candidate_is_cheap() {
        let text = format!("CVSS:3.1{}", "/AV:N".repeat(200_000));
        let start = std::time::Instant::now();
        assert_eq!(find_cvss(&text), None);
        assert!(start.elapsed().as_secs() < 5);
    }
}
