//! CSAF 2.0, profile `csaf_security_advisory`: document (publisher, tracking with its
//! revision history), product tree (vendor → product → versions and version ranges),
//! one vulnerability with its product status, CVSS 3.x scores only (CSAF 2.0 has no
//! CVSS 4), remediation and acknowledgments. A draft is `status: draft`, version 0.

use serde::Serialize;

use super::model::{Advisory, RangeEnd, VersionSpan};
use super::rfc3339;

#[derive(Debug, Serialize)]
pub(crate) struct Document {
    document: Meta,
    product_tree: ProductTree,
    vulnerabilities: Vec<Vulnerability>,
}

#[derive(Debug, Serialize)]
struct Meta {
    category: &'static str,
    csaf_version: &'static str,
    lang: &'static str,
    title: String,
    publisher: Publisher,
    tracking: Tracking,
    distribution: Distribution,
    notes: Vec<Note>,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    acknowledgments: Vec<Acknowledgment>,
}

#[derive(Debug, Serialize)]
struct Publisher {
    category: &'static str,
    name: String,
    namespace: String,
}

#[derive(Debug, Serialize)]
struct Tracking {
    id: String,
    status: &'static str,
    version: String,
    initial_release_date: String,
    current_release_date: String,
    revision_history: Vec<Revision>,
    generator: Generator,
}

#[derive(Debug, Serialize)]
struct Generator {
    engine: Engine,
}

#[derive(Debug, Serialize)]
struct Engine {
    name: &'static str,
    version: &'static str,
}

#[derive(Debug, Serialize)]
struct Revision {
    date: String,
    number: String,
    summary: String,
}

#[derive(Debug, Serialize)]
struct Distribution {
    tlp: Tlp,
}

#[derive(Debug, Serialize)]
struct Tlp {
    label: &'static str,
}

#[derive(Debug, Serialize)]
struct Note {
    category: &'static str,
    text: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    title: Option<String>,
}

#[derive(Debug, Serialize)]
struct Acknowledgment {
    names: Vec<String>,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    urls: Vec<String>,
    summary: String,
}

#[derive(Debug, Serialize)]
struct ProductTree {
    branches: Vec<Branch>,
}

#[derive(Debug, Serialize)]
struct Branch {
    category: &'static str,
    name: String,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    branches: Vec<Branch>,
    #[serde(skip_serializing_if = "Option::is_none")]
    product: Option<Product>,
}

#[derive(Debug, Serialize)]
struct Product {
    name: String,
    product_id: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    product_identification_helper: Option<Helper>,
}

#[derive(Debug, Serialize)]
struct Helper {
    purl: String,
}

#[derive(Debug, Serialize)]
struct Vulnerability {
    #[serde(skip_serializing_if = "Option::is_none")]
    cve: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    cwe: Option<Cwe>,
    title: String,
    notes: Vec<Note>,
    product_status: ProductStatus,
    #[serde(skip_serializing_if = "Option::is_none")]
    release_date: Option<String>,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    remediations: Vec<Remediation>,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    scores: Vec<Score>,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    references: Vec<Reference>,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    acknowledgments: Vec<Acknowledgment>,
}

#[derive(Debug, Serialize)]
struct Cwe {
    id: String,
    name: &'static str,
}

#[derive(Debug, Default, Serialize)]
struct ProductStatus {
    #[serde(skip_serializing_if = "Vec::is_empty")]
    known_affected: Vec<String>,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    fixed: Vec<String>,
}

#[derive(Debug, Serialize)]
struct Remediation {
    category: &'static str,
    details: String,
    product_ids: Vec<String>,
}

#[derive(Debug, Serialize)]
struct Score {
    products: Vec<String>,
    cvss_v3: CvssV3,
}

#[derive(Debug, Serialize)]
#[serde(rename_all = "camelCase")]
struct CvssV3 {
    version: String,
    vector_string: String,
    base_score: f64,
    base_severity: &'static str,
}

#[derive(Debug, Serialize)]
struct Reference {
    category: &'static str,
    summary: String,
    url: String,
}

/// The file name CSAF requires for a document with this tracking ID (§5.1): lower
/// case, every run of characters other than `+`, `-`, `a-z`, `0-9` one `_`, `.json`.
pub(crate) fn file_name(tracking_id: &str) -> String {
    let mut out = String::new();
    let mut in_run = false;
    for c in tracking_id.to_lowercase().chars() {
        if c.is_ascii_lowercase() || c.is_ascii_digit() || c == '+' || c == '-' {
            out.push(c);
            in_run = false;
        } else if !in_run {
            out.push('_');
            in_run = true;
        }
    }
    out.push_str(".json");
    out
}

/// A CVSS severity as CVSS JSON spells it.
pub(super) fn severity_name(s: crate::extract::Severity) -> &'static str {
    match s {
        crate::extract::Severity::None => "NONE",
        crate::extract::Severity::Low => "LOW",
        crate::extract::Severity::Medium => "MEDIUM",
        crate::extract::Severity::High => "HIGH",
        crate::extract::Severity::Critical => "CRITICAL",
    }
}

/// A version range in the `vers` notation CSAF's `product_version_range` takes.
fn vers(introduced: Option<&str>, end: &RangeEnd) -> String {
    let mut parts = Vec::new();
    if let Some(i) = introduced.filter(|i| *i != "0") {
        parts.push(format!(">={i}"));
    }
    match end {
        RangeEnd::Fixed(f) => parts.push(format!("<{f}")),
        RangeEnd::LastAffected(l) => parts.push(format!("<={l}")),
        RangeEnd::Open => {}
    }
    if parts.is_empty() {
        "vers:generic/*".to_string()
    } else {
        format!("vers:generic/{}", parts.join("|"))
    }
}

/// The CSAF document of `a`.
pub(crate) fn document(a: &Advisory) -> Document {
    let product = a.product.clone().unwrap_or_else(|| a.title.clone());
    let full = |v: &str| format!("{} {product} {v}", a.vendor);
    let mut versions: Vec<Branch> = Vec::new();
    let mut affected = Vec::new();
    let mut fixed = Vec::new();
    let mut next_id = 0u32;
    let mut new_id = || {
        next_id += 1;
        format!("CSAFPID-{next_id:04}")
    };
    for span in &a.spans {
        let (category, name) = match span {
            VersionSpan::Single(v) => ("product_version", v.clone()),
            VersionSpan::Range { introduced, end } => {
                ("product_version_range", vers(introduced.as_deref(), end))
            }
        };
        let id = new_id();
        affected.push(id.clone());
        versions.push(Branch {
            category,
            product: Some(Product {
                name: full(&name),
                product_id: id,
                product_identification_helper: None,
            }),
            name,
            branches: Vec::new(),
        });
    }
    for v in &a.fixed_versions {
        let id = new_id();
        fixed.push(id.clone());
        versions.push(Branch {
            category: "product_version",
            product: Some(Product {
                name: full(v),
                product_id: id,
                product_identification_helper: a.purl.as_ref().map(|p| Helper {
                    purl: with_version(p, v),
                }),
            }),
            name: v.clone(),
            branches: Vec::new(),
        });
    }
    // No version known: the product as a whole is what is affected.
    let product_branch = if versions.is_empty() {
        let id = new_id();
        affected.push(id.clone());
        Branch {
            category: "product_name",
            name: product.clone(),
            branches: Vec::new(),
            product: Some(Product {
                name: format!("{} {product}", a.vendor),
                product_id: id,
                product_identification_helper: a.purl.as_ref().map(|p| Helper { purl: p.clone() }),
            }),
        }
    } else {
        Branch {
            category: "product_name",
            name: product.clone(),
            branches: versions,
            product: None,
        }
    };
    let released = a.published.unwrap_or(a.modified);
    let date = rfc3339(released);
    let status = if a.draft { "draft" } else { "final" };
    // Integer versions: a draft is 0; the release is 1, and each change since a
    // revision of its own.
    let mut revision_history = vec![Revision {
        date: date.clone(),
        number: if a.draft { "0".into() } else { "1".into() },
        summary: if a.draft {
            "Draft.".into()
        } else {
            "Initial release.".into()
        },
    }];
    for (n, u) in (2..).zip(&a.updates) {
        revision_history.push(Revision {
            date: rfc3339(u.at),
            number: n.to_string(),
            summary: format!("Updated: {}.", u.what),
        });
    }
    let (version, current) = match revision_history.last() {
        Some(r) => (r.number.clone(), r.date.clone()),
        None => ("1".to_string(), date.clone()),
    };
    let acknowledgments: Vec<Acknowledgment> = a
        .credits
        .iter()
        .map(|c| Acknowledgment {
            names: vec![c.name.clone()],
            urls: c.contact.iter().cloned().collect(),
            summary: format!("{} of this vulnerability", c.kind.cve()),
        })
        .collect();
    let mut remediations = Vec::new();
    if !affected.is_empty() {
        let details = a.remediation.clone().unwrap_or_else(|| {
            if a.fixed_versions.is_empty() {
                "Update to a fixed version.".to_string()
            } else {
                format!("Update to {}.", a.fixed_versions.join(" or "))
            }
        });
        remediations.push(Remediation {
            category: "vendor_fix",
            details,
            product_ids: affected.clone(),
        });
    }
    let mut notes = vec![Note {
        category: "description",
        text: a.description.clone(),
        title: Some("Description".into()),
    }];
    let cwe = a.weakness.as_ref().and_then(|w| {
        if w.name.is_none() {
            notes.push(Note {
                category: "other",
                text: w.id.clone(),
                title: Some("Weakness (CWE)".into()),
            });
        }
        w.name.map(|name| Cwe {
            id: w.id.clone(),
            name,
        })
    });
    let scores = a
        .cvss
        .iter()
        .filter(|c| matches!(c.version.as_str(), "3.0" | "3.1") && !affected.is_empty())
        .map(|c| Score {
            products: affected.clone(),
            cvss_v3: CvssV3 {
                version: c.version.clone(),
                vector_string: c.vector.clone(),
                base_score: c.score,
                base_severity: severity_name(c.severity),
            },
        })
        .collect();
    Document {
        document: Meta {
            category: "csaf_security_advisory",
            csaf_version: "2.0",
            lang: "en",
            title: a.title.clone(),
            publisher: Publisher {
                category: "vendor",
                name: a.publisher.clone(),
                namespace: a.namespace.clone(),
            },
            tracking: Tracking {
                id: a.report_id.clone(),
                status,
                version,
                initial_release_date: date,
                current_release_date: current,
                revision_history,
                generator: Generator {
                    engine: Engine {
                        name: "disclosured",
                        version: env!("CARGO_PKG_VERSION"),
                    },
                },
            },
            distribution: Distribution {
                tlp: Tlp {
                    label: if a.draft { "AMBER" } else { "WHITE" },
                },
            },
            notes: vec![Note {
                category: "summary",
                text: a.description.clone(),
                title: Some("Summary".into()),
            }],
            acknowledgments: Vec::new(),
        },
        product_tree: ProductTree {
            branches: vec![Branch {
                category: "vendor",
                name: a.vendor.clone(),
                branches: vec![product_branch],
                product: None,
            }],
        },
        vulnerabilities: vec![Vulnerability {
            cve: a.cve.clone(),
            cwe,
            title: a.title.clone(),
            notes,
            product_status: ProductStatus {
                known_affected: affected,
                fixed,
            },
            release_date: a.published.filter(|_| !a.draft).map(rfc3339),
            remediations,
            scores,
            references: a
                .references
                .iter()
                .map(|u| Reference {
                    category: "external",
                    summary: "Reference".into(),
                    url: u.clone(),
                })
                .collect(),
            acknowledgments,
        }],
    }
}

/// A package URL with a version (`pkg:cargo/foo` → `pkg:cargo/foo@1.4`); one that
/// carries a version already is kept as it is.
fn with_version(purl: &str, version: &str) -> String {
    let (base, tail) = match purl.find(['?', '#']) {
        Some(i) => (
            purl.get(..i).unwrap_or(purl),
            purl.get(i..).unwrap_or_default(),
        ),
        None => (purl, ""),
    };
    if base.rsplit('/').next().is_some_and(|n| n.contains('@')) {
        return purl.to_string();
    }
    format!("{base}@{version}{tail}")
}

#[cfg(test)]
mod tests {
    #[test]
    fn file_names_follow_the_csaf_rule() {
        assert_eq!(super::file_name("EX-2026-0001"), "ex-2026-0001.json");
        assert_eq!(super::file_name("VR 2026/01:x"), "vr_2026_01_x.json");
        assert_eq!(
            super::with_version("pkg:cargo/foo", "1.4"),
            "pkg:cargo/foo@1.4"
        );
        assert_eq!(
            super::with_version("pkg:cargo/foo@1.0", "1.4"),
            "pkg:cargo/foo@1.0"
        );
    }
}
