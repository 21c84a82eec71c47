//! Line endings, non-ASCII text, empty and huge inputs, pathological repetition.

use super::*;

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
        text: "Notiz: ignoriert\nTitle: Contournement d’authentification — ÉTÉ 🔓\n\n\
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
