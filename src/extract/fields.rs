//! The extracted fields of a report and their vocabulary: field names (shared with the
//! configuration's `policy.required_fields`), severity levels and CVSS results. Plain data with
//! no parsing of report text.

use std::fmt;
use std::str::FromStr;

/// Upper bound for any single extracted field, in bytes.
pub(crate) const FIELD_CAP_BYTES: usize = 64 * 1024;

/// The fields a report can carry. Names double as the configuration vocabulary for
/// `policy.required_fields`, so [`FieldName::as_str`] and serde must stay in agreement.
#[derive(
    Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, serde::Serialize, serde::Deserialize,
)]
#[serde(rename_all = "snake_case")]
pub enum FieldName {
    Title,
    VulnerabilityType,
    AffectedComponent,
    AffectedVersions,
    Description,
    StepsToReproduce,
    ProofOfConcept,
    Impact,
    SuggestedFix,
    CvssVector,
    Severity,
    CreditName,
    Contact,
}

impl FieldName {
    pub const ALL: [FieldName; 13] = [
        FieldName::Title,
        FieldName::VulnerabilityType,
        FieldName::AffectedComponent,
        FieldName::AffectedVersions,
        FieldName::Description,
        FieldName::StepsToReproduce,
        FieldName::ProofOfConcept,
        FieldName::Impact,
        FieldName::SuggestedFix,
        FieldName::CvssVector,
        FieldName::Severity,
        FieldName::CreditName,
        FieldName::Contact,
    ];

    /// Machine name, identical to the serde representation.
    pub fn as_str(self) -> &'static str {
        match self {
            FieldName::Title => "title",
            FieldName::VulnerabilityType => "vulnerability_type",
            FieldName::AffectedComponent => "affected_component",
            FieldName::AffectedVersions => "affected_versions",
            FieldName::Description => "description",
            FieldName::StepsToReproduce => "steps_to_reproduce",
            FieldName::ProofOfConcept => "proof_of_concept",
            FieldName::Impact => "impact",
            FieldName::SuggestedFix => "suggested_fix",
            FieldName::CvssVector => "cvss_vector",
            FieldName::Severity => "severity",
            FieldName::CreditName => "credit_name",
            FieldName::Contact => "contact",
        }
    }

    /// Human label, used in acknowledgements and "please add ..." replies.
    pub fn label(self) -> &'static str {
        match self {
            FieldName::Title => "Title",
            FieldName::VulnerabilityType => "Vulnerability type",
            FieldName::AffectedComponent => "Affected component",
            FieldName::AffectedVersions => "Affected versions",
            FieldName::Description => "Description",
            FieldName::StepsToReproduce => "Steps to reproduce",
            FieldName::ProofOfConcept => "Proof of concept",
            FieldName::Impact => "Impact",
            FieldName::SuggestedFix => "Suggested fix",
            FieldName::CvssVector => "CVSS vector",
            FieldName::Severity => "Severity",
            FieldName::CreditName => "Credit name",
            FieldName::Contact => "Contact",
        }
    }
}

impl fmt::Display for FieldName {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl FromStr for FieldName {
    type Err = String;

    /// Accepts the [`FieldName::as_str`] names. Case and `-` versus `_` are forgiven because
    /// operators type these into config files by hand.
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        let wanted = s.trim().to_ascii_lowercase().replace('-', "_");
        FieldName::ALL
            .into_iter()
            .find(|name| name.as_str() == wanted)
            .ok_or_else(|| {
                let known: Vec<&str> = FieldName::ALL.iter().map(|n| n.as_str()).collect();
                format!(
                    "unknown report field name {s:?} (expected one of: {})",
                    known.join(", ")
                )
            })
    }
}

/// Severity, in increasing order so that comparisons such as `>= Severity::High` work.
#[derive(
    Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, serde::Serialize, serde::Deserialize,
)]
#[serde(rename_all = "snake_case")]
pub enum Severity {
    None,
    Low,
    Medium,
    High,
    Critical,
}

impl Severity {
    pub fn as_str(self) -> &'static str {
        match self {
            Severity::None => "none",
            Severity::Low => "low",
            Severity::Medium => "medium",
            Severity::High => "high",
            Severity::Critical => "critical",
        }
    }
}

impl std::str::FromStr for Severity {
    type Err = String;

    fn from_str(s: &str) -> Result<Severity, String> {
        [
            Severity::None,
            Severity::Low,
            Severity::Medium,
            Severity::High,
            Severity::Critical,
        ]
        .into_iter()
        .find(|v| v.as_str().eq_ignore_ascii_case(s.trim()))
        .ok_or_else(|| format!("{s:?} is not a severity (critical, high, medium, low, none)"))
    }
}

impl fmt::Display for Severity {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// A CVSS vector found in a report, with the score computed by the `cvss` crate.
#[derive(Debug, Clone, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct Cvss {
    /// "2.0", "3.0", "3.1" or "4.0".
    pub version: String,
    /// The vector as re-serialised by the `cvss` crate after parsing.
    pub vector: String,
    /// Base score (v2/v3) or CVSS-B/BT/BE/BTE score (v4), one decimal.
    pub score: f64,
    pub severity: Severity,
}

#[derive(Debug, Clone, Default, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct Fields {
    pub title: Option<String>,
    pub vulnerability_type: Option<String>,
    pub affected_component: Option<String>,
    pub affected_versions: Option<String>,
    pub description: Option<String>,
    pub steps_to_reproduce: Option<String>,
    pub proof_of_concept: Option<String>,
    pub impact: Option<String>,
    pub suggested_fix: Option<String>,
    pub cvss: Option<Cvss>,
    /// Severity as stated in words in the report (kept even when a vector exists).
    pub stated_severity: Option<Severity>,
    pub credit_name: Option<String>,
    pub contact: Option<String>,
    /// Which fields were read from running text rather than given under a label; stored
    /// reports from before issue 16 have none.
    #[serde(default)]
    pub inferred: Inferred,
    /// The affected versions as ranges (what the OSV, CSAF and CVE exports read): every range
    /// of the field, in the order written. Empty when no range could be read; the text of
    /// `affected_versions` stays the record of what the report said.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub affected: Vec<AffectedRange>,
    /// Versions the report names as fixed ("fixed in", "corrigé dans", "修复版本"), never part
    /// of the affected list.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub fixed_versions: Vec<String>,
}

/// One range of affected versions. `introduced` is the first affected version (absent when
/// the report gives none: "before 2.4.1" affects everything before); exactly one of `fixed`
/// (first version not affected) and `last_affected` (last version affected) closes it, or
/// neither when the range is open or a single version. `text` is the range as written.
#[derive(Debug, Clone, Default, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct AffectedRange {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub introduced: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub fixed: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub last_affected: Option<String>,
    pub text: String,
}

/// Fields whose value was inferred: `reports show --json` gives `"inferred":
/// {"affected_versions": true}` for versions found in prose ("before 2.4.1", "foo-lib 0.9.2")
/// rather than under an "Affected versions" label in any language, and `"severity": true`
/// for a severity read from a sentence ("rated critical by the vendor") or from a score alone
/// ("9.8 out of 10", "base score 5.5") rather than from a severity label or a CVSS vector.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct Inferred {
    #[serde(default)]
    pub affected_versions: bool,
    #[serde(default)]
    pub severity: bool,
}

impl Fields {
    /// Severity from the CVSS score when a vector is present, else the stated one.
    pub fn severity(&self) -> Option<Severity> {
        self.cvss
            .as_ref()
            .map(|c| c.severity)
            .or(self.stated_severity)
    }

    /// The value for a field name as text (cvss_vector -> vector string, severity -> as_str of
    /// severity()).
    pub fn get(&self, name: FieldName) -> Option<String> {
        match name {
            FieldName::Title => self.title.clone(),
            FieldName::VulnerabilityType => self.vulnerability_type.clone(),
            FieldName::AffectedComponent => self.affected_component.clone(),
            FieldName::AffectedVersions => self.affected_versions.clone(),
            FieldName::Description => self.description.clone(),
            FieldName::StepsToReproduce => self.steps_to_reproduce.clone(),
            FieldName::ProofOfConcept => self.proof_of_concept.clone(),
            FieldName::Impact => self.impact.clone(),
            FieldName::SuggestedFix => self.suggested_fix.clone(),
            FieldName::CvssVector => self.cvss.as_ref().map(|c| c.vector.clone()),
            FieldName::Severity => self.severity().map(|s| s.as_str().to_owned()),
            FieldName::CreditName => self.credit_name.clone(),
            FieldName::Contact => self.contact.clone(),
        }
    }

    fn has(&self, name: FieldName) -> bool {
        match name {
            FieldName::CvssVector => self.cvss.is_some(),
            FieldName::Severity => self.severity().is_some(),
            other => self.text_field(other).is_some(),
        }
    }

    fn text_field(&self, name: FieldName) -> Option<&String> {
        match name {
            FieldName::Title => self.title.as_ref(),
            FieldName::VulnerabilityType => self.vulnerability_type.as_ref(),
            FieldName::AffectedComponent => self.affected_component.as_ref(),
            FieldName::AffectedVersions => self.affected_versions.as_ref(),
            FieldName::Description => self.description.as_ref(),
            FieldName::StepsToReproduce => self.steps_to_reproduce.as_ref(),
            FieldName::ProofOfConcept => self.proof_of_concept.as_ref(),
            FieldName::Impact => self.impact.as_ref(),
            FieldName::SuggestedFix => self.suggested_fix.as_ref(),
            FieldName::CreditName => self.credit_name.as_ref(),
            FieldName::Contact => self.contact.as_ref(),
            FieldName::CvssVector | FieldName::Severity => None,
        }
    }

    /// The text slot of a field (`None` for the CVSS vector and severity, which are not text).
    pub(crate) fn text_slot(&mut self, name: FieldName) -> Option<&mut Option<String>> {
        Some(match name {
            FieldName::Title => &mut self.title,
            FieldName::VulnerabilityType => &mut self.vulnerability_type,
            FieldName::AffectedComponent => &mut self.affected_component,
            FieldName::AffectedVersions => &mut self.affected_versions,
            FieldName::Description => &mut self.description,
            FieldName::StepsToReproduce => &mut self.steps_to_reproduce,
            FieldName::ProofOfConcept => &mut self.proof_of_concept,
            FieldName::Impact => &mut self.impact,
            FieldName::SuggestedFix => &mut self.suggested_fix,
            FieldName::CreditName => &mut self.credit_name,
            FieldName::Contact => &mut self.contact,
            FieldName::CvssVector | FieldName::Severity => return None,
        })
    }

    /// Fields in `required` that are missing, in the order given.
    pub fn missing(&self, required: &[FieldName]) -> Vec<FieldName> {
        required.iter().copied().filter(|n| !self.has(*n)).collect()
    }

    /// Names of fields present, in FieldName::ALL order.
    pub fn present(&self) -> Vec<FieldName> {
        FieldName::ALL
            .into_iter()
            .filter(|n| self.has(*n))
            .collect()
    }
}
