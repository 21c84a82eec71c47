//! Text that is not a field: quotes, signatures, code, unknown keys.

use super::*;

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
