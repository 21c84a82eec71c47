//! `Fields` and `FieldName` as the rest of the gateway uses them.

use super::*;

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
        inferred: crate::extract::fields::Inferred::default(),
        affected: Vec::new(),
        fixed_versions: Vec::new(),
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
