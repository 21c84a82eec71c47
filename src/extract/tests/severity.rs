//! CVSS vectors end to end and severities stated in words.

use super::*;

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
