//! CVE Record Format 5.1: the CNA container a CNA submits (English description,
//! affected products with versions and `lessThan` / `lessThanOrEqual`, problem types,
//! metrics, references, credits with lower-case types), and optionally the full
//! record around it. Fields valid under schema 5.1.1 and 5.2 alike (no `packageURL`).

use serde::Serialize;

use super::csaf::severity_name;
use super::model::{Advisory, RangeEnd, VersionSpan};
use super::{AdvisoryError, rfc3339};

/// A draft's organisation ID when none is given (all zeros: no CNA's, and not valid
/// for submission). A final container needs the CNA's own.
pub(crate) const NO_ORG_ID: &str = "00000000-0000-0000-0000-000000000000";

#[derive(Debug, Serialize)]
#[serde(rename_all = "camelCase")]
pub(crate) struct CnaContainer {
    provider_metadata: ProviderMetadata,
    title: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    date_public: Option<String>,
    descriptions: Vec<Text>,
    affected: Vec<Affected>,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    problem_types: Vec<ProblemType>,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    metrics: Vec<Metric>,
    references: Vec<Reference>,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    solutions: Vec<Text>,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    timeline: Vec<TimelineEntry>,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    credits: Vec<Credit>,
}

#[derive(Debug, Serialize)]
#[serde(rename_all = "camelCase")]
struct ProviderMetadata {
    org_id: String,
}

#[derive(Debug, Serialize)]
struct Text {
    lang: &'static str,
    value: String,
}

#[derive(Debug, Serialize)]
#[serde(rename_all = "camelCase")]
struct Affected {
    vendor: String,
    product: String,
    versions: Vec<Version>,
    default_status: &'static str,
}

#[derive(Debug, Serialize)]
#[serde(rename_all = "camelCase")]
struct Version {
    version: String,
    status: &'static str,
    #[serde(skip_serializing_if = "Option::is_none")]
    version_type: Option<&'static str>,
    #[serde(skip_serializing_if = "Option::is_none")]
    less_than: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    less_than_or_equal: Option<String>,
}

#[derive(Debug, Serialize)]
struct ProblemType {
    descriptions: Vec<ProblemDescription>,
}

#[derive(Debug, Serialize)]
#[serde(rename_all = "camelCase")]
struct ProblemDescription {
    lang: &'static str,
    description: String,
    cwe_id: String,
    #[serde(rename = "type")]
    kind: &'static str,
}

#[derive(Debug, Serialize)]
struct Metric {
    #[serde(rename = "cvssV3_1", skip_serializing_if = "Option::is_none")]
    cvss_v3_1: Option<Cvss>,
    #[serde(rename = "cvssV3_0", skip_serializing_if = "Option::is_none")]
    cvss_v3_0: Option<Cvss>,
    #[serde(rename = "cvssV4_0", skip_serializing_if = "Option::is_none")]
    cvss_v4_0: Option<Cvss>,
}

#[derive(Debug, Serialize)]
#[serde(rename_all = "camelCase")]
struct Cvss {
    version: String,
    vector_string: String,
    base_score: f64,
    base_severity: &'static str,
}

#[derive(Debug, Serialize)]
struct Reference {
    url: String,
}

#[derive(Debug, Serialize)]
struct TimelineEntry {
    time: String,
    lang: &'static str,
    value: String,
}

#[derive(Debug, Serialize)]
struct Credit {
    lang: &'static str,
    value: String,
    #[serde(rename = "type")]
    kind: &'static str,
}

/// A full CVE record: metadata and the CNA container.
#[derive(Debug, Serialize)]
#[serde(rename_all = "camelCase")]
pub(crate) struct FullRecord {
    data_type: &'static str,
    data_version: &'static str,
    cve_metadata: CveMetadata,
    containers: Containers,
}

#[derive(Debug, Serialize)]
#[serde(rename_all = "camelCase")]
struct CveMetadata {
    cve_id: String,
    assigner_org_id: String,
    state: &'static str,
    #[serde(skip_serializing_if = "Option::is_none")]
    date_published: Option<String>,
    date_updated: String,
}

#[derive(Debug, Serialize)]
struct Containers {
    cna: CnaContainer,
}

/// The CNA container of `a`. A final one needs at least one reference (the schema's
/// minimum).
pub(crate) fn container(a: &Advisory, org_id: Option<&str>) -> Result<CnaContainer, AdvisoryError> {
    let org_id = match org_id {
        Some(id) => id,
        None if a.draft => NO_ORG_ID,
        None => {
            return Err(AdvisoryError::Missing {
                id: a.report_id.clone(),
                format: "CVE",
                missing: "the CNA's organisation ID: give --org-id UUID (the CNA that \
                          publishes it has one; CVE Services shows it)"
                    .into(),
            });
        }
    };
    if a.references.is_empty() && !a.draft {
        return Err(AdvisoryError::Missing {
            id: a.report_id.clone(),
            format: "CVE",
            missing: "at least one reference: set --references (X-REFERENCES:)".into(),
        });
    }
    let product = a.product.clone().unwrap_or_else(|| a.title.clone());
    let mut versions: Vec<Version> = Vec::new();
    for span in &a.spans {
        versions.push(match span {
            VersionSpan::Single(v) => Version {
                version: v.clone(),
                status: "affected",
                version_type: None,
                less_than: None,
                less_than_or_equal: None,
            },
            VersionSpan::Range { introduced, end } => {
                let (lt, le) = match end {
                    RangeEnd::Fixed(f) => (Some(f.clone()), None),
                    RangeEnd::LastAffected(l) => (None, Some(l.clone())),
                    // Unbounded above: the schema's "*".
                    RangeEnd::Open => (Some("*".to_string()), None),
                };
                Version {
                    version: introduced.clone().unwrap_or_else(|| "0".into()),
                    status: "affected",
                    version_type: Some("custom"),
                    less_than: lt,
                    less_than_or_equal: le,
                }
            }
        });
    }
    for v in &a.fixed_versions {
        versions.push(Version {
            version: v.clone(),
            status: "unaffected",
            version_type: None,
            less_than: None,
            less_than_or_equal: None,
        });
    }
    let default_status = if a.spans.is_empty() {
        // Nothing says which versions: every version is affected until told otherwise.
        "affected"
    } else {
        "unaffected"
    };
    let metrics = a
        .cvss
        .iter()
        .filter_map(|c| {
            let cvss = Cvss {
                version: c.version.clone(),
                vector_string: c.vector.clone(),
                base_score: c.score,
                base_severity: severity_name(c.severity),
            };
            let mut m = Metric {
                cvss_v3_1: None,
                cvss_v3_0: None,
                cvss_v4_0: None,
            };
            match c.version.as_str() {
                "3.1" => m.cvss_v3_1 = Some(cvss),
                "3.0" => m.cvss_v3_0 = Some(cvss),
                "4.0" => m.cvss_v4_0 = Some(cvss),
                _ => return None,
            }
            Some(m)
        })
        .collect();
    let mut solutions = Vec::new();
    if let Some(r) = &a.remediation {
        solutions.push(Text {
            lang: "en",
            value: r.clone(),
        });
    } else if !a.fixed_versions.is_empty() {
        solutions.push(Text {
            lang: "en",
            value: format!("Update to {}.", a.fixed_versions.join(" or ")),
        });
    }
    Ok(CnaContainer {
        provider_metadata: ProviderMetadata {
            org_id: org_id.to_string(),
        },
        title: a.title.clone(),
        date_public: a.published.filter(|_| !a.draft).map(rfc3339),
        descriptions: vec![Text {
            lang: "en",
            value: a.description.chars().take(4096).collect(),
        }],
        affected: vec![Affected {
            vendor: a.vendor.clone(),
            product,
            versions,
            default_status,
        }],
        problem_types: a
            .weakness
            .iter()
            .map(|w| ProblemType {
                descriptions: vec![ProblemDescription {
                    lang: "en",
                    description: match w.name {
                        Some(name) => format!("{} {name}", w.id),
                        None => w.id.clone(),
                    },
                    cwe_id: w.id.clone(),
                    kind: "CWE",
                }],
            })
            .collect(),
        metrics,
        references: a
            .references
            .iter()
            .map(|u| Reference { url: u.clone() })
            .collect(),
        solutions,
        timeline: a
            .timeline
            .iter()
            .map(|m| TimelineEntry {
                time: rfc3339(m.at),
                lang: "en",
                value: m.what.to_string(),
            })
            .collect(),
        credits: a
            .credits
            .iter()
            .map(|c| Credit {
                lang: "en",
                value: c.name.clone(),
                kind: c.kind.cve(),
            })
            .collect(),
    })
}

/// The full record of `a`: it needs the CVE ID.
pub(crate) fn full_record(a: &Advisory, org_id: Option<&str>) -> Result<FullRecord, AdvisoryError> {
    let cna = container(a, org_id)?;
    let Some(cve) = a.cve.clone() else {
        return Err(AdvisoryError::Missing {
            id: a.report_id.clone(),
            format: "full CVE record",
            missing: "the CVE ID: set --cve (X-CVE:)".into(),
        });
    };
    Ok(FullRecord {
        data_type: "CVE_RECORD",
        data_version: "5.1",
        cve_metadata: CveMetadata {
            cve_id: cve,
            assigner_org_id: cna.provider_metadata.org_id.clone(),
            state: "PUBLISHED",
            date_published: a.published.filter(|_| !a.draft).map(rfc3339),
            date_updated: rfc3339(a.modified),
        },
        containers: Containers { cna },
    })
}
