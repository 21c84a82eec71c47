//! OSV 1.7 (schema 1.7.5): one record per advisory. The ID is the CVE when one is
//! assigned, else `x_<report ID>` (the schema's prefix for a local database); times are
//! UTC with `Z`; credit types upper case; `severity` holds CVSS vectors. A draft has no
//! `published`.

use std::collections::BTreeMap;

use serde::Serialize;

use super::model::{Advisory, RangeEnd, VersionSpan};
use super::{AdvisoryError, rfc3339};

pub(crate) const SCHEMA_VERSION: &str = "1.7.5";

#[derive(Debug, Serialize)]
pub(crate) struct Record {
    schema_version: &'static str,
    id: String,
    modified: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    published: Option<String>,
    summary: String,
    details: String,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    severity: Vec<Severity>,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    affected: Vec<Affected>,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    references: Vec<Reference>,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    credits: Vec<Credit>,
    database_specific: DatabaseSpecific,
}

#[derive(Debug, Serialize)]
struct Severity {
    #[serde(rename = "type")]
    kind: &'static str,
    score: String,
}

#[derive(Debug, Serialize)]
struct Affected {
    package: Package,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    ranges: Vec<Range>,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    versions: Vec<String>,
}

#[derive(Debug, Serialize)]
struct Package {
    ecosystem: String,
    name: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    purl: Option<String>,
}

#[derive(Debug, Serialize)]
struct Range {
    #[serde(rename = "type")]
    kind: &'static str,
    events: Vec<BTreeMap<&'static str, String>>,
}

#[derive(Debug, Serialize)]
struct Reference {
    #[serde(rename = "type")]
    kind: &'static str,
    url: String,
}

#[derive(Debug, Serialize)]
struct Credit {
    name: String,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    contact: Vec<String>,
    #[serde(rename = "type")]
    kind: String,
}

#[derive(Debug, Serialize)]
struct DatabaseSpecific {
    #[serde(skip_serializing_if = "Vec::is_empty")]
    cwe_ids: Vec<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    severity: Option<&'static str>,
    #[serde(skip_serializing_if = "std::ops::Not::not")]
    draft: bool,
}

/// The OSV record of `a`. A final record needs the package (ecosystem and name).
pub(crate) fn record(a: &Advisory) -> Result<Record, AdvisoryError> {
    let package = match (&a.ecosystem, &a.package) {
        (Some(ecosystem), Some(name)) => Some(Package {
            ecosystem: ecosystem.clone(),
            name: name.clone(),
            purl: a.purl.clone(),
        }),
        _ if a.draft => None,
        _ => {
            return Err(AdvisoryError::Missing {
                id: a.report_id.clone(),
                format: "OSV",
                missing: "the package: set --ecosystem and --package (X-ECOSYSTEM:, X-PACKAGE:)"
                    .into(),
            });
        }
    };
    let mut ranges = Vec::new();
    let mut versions = Vec::new();
    for span in &a.spans {
        match span {
            VersionSpan::Single(v) => versions.push(v.clone()),
            VersionSpan::Range { introduced, end } => {
                let mut events = vec![BTreeMap::from([(
                    "introduced",
                    introduced.clone().unwrap_or_else(|| "0".into()),
                )])];
                match end {
                    RangeEnd::Fixed(v) => events.push(BTreeMap::from([("fixed", v.clone())])),
                    RangeEnd::LastAffected(v) => {
                        events.push(BTreeMap::from([("last_affected", v.clone())]))
                    }
                    RangeEnd::Open => {}
                }
                ranges.push(Range {
                    kind: "ECOSYSTEM",
                    events,
                });
            }
        }
    }
    // Fixed versions with no range to close: everything before the first of them.
    let closes = |v: &String| {
        a.spans
            .iter()
            .any(|s| matches!(s, VersionSpan::Range { end: RangeEnd::Fixed(f), .. } if f == v))
    };
    if ranges.is_empty()
        && versions.is_empty()
        && let Some(first) = a.fixed_versions.iter().find(|v| !closes(v))
    {
        ranges.push(Range {
            kind: "ECOSYSTEM",
            events: vec![
                BTreeMap::from([("introduced", "0".to_string())]),
                BTreeMap::from([("fixed", first.clone())]),
            ],
        });
    }
    let severity = a
        .cvss
        .iter()
        .filter_map(|c| {
            let kind = match c.version.as_str() {
                "3.0" | "3.1" => "CVSS_V3",
                "4.0" => "CVSS_V4",
                _ => return None,
            };
            Some(Severity {
                kind,
                score: c.vector.clone(),
            })
        })
        .collect();
    let mut references: Vec<Reference> = a
        .references
        .iter()
        .map(|u| Reference {
            kind: "WEB",
            url: u.clone(),
        })
        .collect();
    if let Some(cve) = &a.cve {
        references.push(Reference {
            kind: "ADVISORY",
            url: format!("https://www.cve.org/CVERecord?id={cve}"),
        });
    }
    let mut details = a.description.clone();
    if let Some(r) = &a.remediation {
        details.push_str(&format!("\n\nRemediation: {r}"));
    }
    Ok(Record {
        schema_version: SCHEMA_VERSION,
        id: a.osv_id(),
        modified: rfc3339(a.modified),
        published: if a.draft {
            None
        } else {
            a.published.map(rfc3339)
        },
        summary: a.title.clone(),
        details,
        severity,
        affected: package
            .map(|package| Affected {
                package,
                ranges,
                versions,
            })
            .into_iter()
            .collect(),
        references,
        credits: a
            .credits
            .iter()
            .map(|c| Credit {
                name: c.name.clone(),
                contact: c.contact.iter().cloned().collect(),
                kind: c.kind.osv(),
            })
            .collect(),
        database_specific: DatabaseSpecific {
            cwe_ids: a.weakness.iter().map(|w| w.id.clone()).collect(),
            severity: a.severity.map(|s| s.as_str()),
            draft: a.draft,
        },
    })
}
