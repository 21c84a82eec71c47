//! The one model every format renders: what a report and its maintainers say, and
//! only what may be published. Internal notes, the conversation, the report's text and
//! the researcher's address are never read here; [`Advisory::check_no_leak`] refuses a
//! document that still carries the address (in a title, say) unless the researcher
//! chose it as their credit contact.

use chrono::{DateTime, Utc};

use crate::extract::{AffectedRange, Cvss, Severity};
use crate::store::{CreditChoice, CreditType, Detail, Report, Status};

/// Why an advisory is not written.
#[derive(Debug, thiserror::Error)]
pub(crate) enum AdvisoryError {
    #[error(
        "{id} is {status}: an advisory is written once the report is fixed or disclosed \
         (reports set {id} --status fixed), or as a draft with --draft"
    )]
    NotFixed { id: String, status: &'static str },
    #[error("{id}: the {format} advisory needs {missing}")]
    Missing {
        id: String,
        format: &'static str,
        missing: String,
    },
    #[error(
        "{id}: the advisory would contain the researcher's address ({field}), which they \
         did not choose as their credit contact: correct that detail with reports set"
    )]
    Leak { id: String, field: String },
}

/// A version range as the formats need it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum VersionSpan {
    /// One version only.
    Single(String),
    /// From `introduced` (None: from the beginning) up to an end, or open.
    Range {
        introduced: Option<String>,
        end: RangeEnd,
    },
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum RangeEnd {
    /// The first version not affected.
    Fixed(String),
    /// The last version affected.
    LastAffected(String),
    /// Every later version too.
    Open,
}

/// A credit as published.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct PublicCredit {
    /// The name, with the handle beside it when one was given.
    pub(crate) name: String,
    pub(crate) contact: Option<String>,
    pub(crate) kind: CreditType,
}

/// A weakness by CWE ID, with its name when this gateway knows it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Weakness {
    pub(crate) id: String,
    pub(crate) name: Option<&'static str>,
}

/// A dated step of the report's history that may be published.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Milestone {
    pub(crate) at: DateTime<Utc>,
    pub(crate) what: &'static str,
}

/// A change to a published advisory.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Update {
    pub(crate) at: DateTime<Utc>,
    /// What changed, as labels: "CVSS, Fixed in".
    pub(crate) what: String,
}

/// The event actions that change what an advisory says.
fn changes_advisory(action: &str) -> Option<&'static str> {
    Detail::ALL
        .into_iter()
        .find(|d| d.as_str() == action)
        .map(Detail::label)
        .or(match action {
            "cvss" => Some("CVSS"),
            "severity" => Some("Severity"),
            "credit" => Some("Credit"),
            _ => None,
        })
}

/// The updates after `published`: events that change the advisory, one per instant.
fn updates_after(report: &Report, published: Option<DateTime<Utc>>) -> Vec<Update> {
    let Some(published) = published else {
        return Vec::new();
    };
    let mut out: Vec<Update> = Vec::new();
    for e in report.events.iter().filter(|e| e.at > published) {
        let Some(label) = changes_advisory(&e.action) else {
            continue;
        };
        match out.last_mut() {
            Some(u) if u.at == e.at => {
                if !u.what.split(", ").any(|w| w == label) {
                    u.what.push_str(&format!(", {label}"));
                }
            }
            _ => out.push(Update {
                at: e.at,
                what: label.to_string(),
            }),
        }
    }
    out.sort_by_key(|u| u.at);
    out
}

/// Everything an advisory says.
#[derive(Debug, Clone)]
pub(crate) struct Advisory {
    pub(crate) report_id: String,
    pub(crate) draft: bool,
    pub(crate) title: String,
    /// English, always present.
    pub(crate) description: String,
    pub(crate) cve: Option<String>,
    pub(crate) weakness: Option<Weakness>,
    pub(crate) cvss: Option<Cvss>,
    pub(crate) severity: Option<Severity>,
    pub(crate) ecosystem: Option<String>,
    pub(crate) package: Option<String>,
    pub(crate) purl: Option<String>,
    pub(crate) vendor: String,
    pub(crate) product: Option<String>,
    pub(crate) spans: Vec<VersionSpan>,
    pub(crate) fixed_versions: Vec<String>,
    pub(crate) references: Vec<String>,
    pub(crate) remediation: Option<String>,
    /// When it is (to be) published: set by a maintainer, else when the report was
    /// disclosed, else when it was fixed.
    pub(crate) published: Option<DateTime<Utc>>,
    /// The last change to the report.
    pub(crate) modified: DateTime<Utc>,
    /// Changes to what the advisory says after it was published, oldest first: each
    /// maintainer's change (one command, one time) or credit choice, with what it
    /// changed. CSAF makes each one a revision.
    pub(crate) updates: Vec<Update>,
    pub(crate) timeline: Vec<Milestone>,
    pub(crate) credits: Vec<PublicCredit>,
    /// The publisher: the gateway's name, and a namespace URL from its domain.
    pub(crate) publisher: String,
    pub(crate) namespace: String,
}

impl Advisory {
    /// The advisory of `report`; refused before the report is fixed unless `draft`.
    pub(crate) fn of(
        report: &Report,
        settings: &crate::config::Settings,
        draft: bool,
    ) -> Result<Advisory, AdvisoryError> {
        if !draft && !matches!(report.status, Status::Fixed | Status::Disclosed) {
            return Err(AdvisoryError::NotFixed {
                id: report.id.to_string(),
                status: report.status.as_str(),
            });
        }
        let d = |detail: Detail| {
            report
                .detail(detail)
                .map(str::trim)
                .filter(|v| !v.is_empty())
                .map(str::to_string)
        };
        let fields = &report.data.fields;
        let title = d(Detail::Title).unwrap_or_else(|| format!("Vulnerability {}", report.id));
        let component = d(Detail::AffectedComponent);
        let package = d(Detail::Package);
        let product = d(Detail::Product)
            .or_else(|| package.clone())
            .or(component.clone());
        let description = d(Detail::Summary).unwrap_or_else(|| {
            let mut s = match d(Detail::VulnerabilityType) {
                Some(t) => format!("{t} vulnerability"),
                None => "A vulnerability".to_string(),
            };
            if let Some(p) = &product {
                s.push_str(&format!(" in {p}"));
            }
            s.push_str(&format!(": {title}."));
            s
        });
        let ranges: Vec<AffectedRange> = match d(Detail::Affected) {
            Some(v) => crate::store::parse_ranges(&v).unwrap_or_default(),
            None => fields.affected.clone(),
        };
        let fixed_versions: Vec<String> = match d(Detail::FixedIn) {
            Some(v) => v
                .split(',')
                .map(str::trim)
                .filter(|v| !v.is_empty())
                .map(str::to_string)
                .collect(),
            None => fields.fixed_versions.clone(),
        };
        // The same instants the report's timeline shows (`reports show`, the policy page).
        let t = report.timeline();
        let (fixed_at, disclosed_at) = (t.fixed, t.disclosed);
        let published = d(Detail::Published)
            .and_then(|p| crate::store::parse_date(&p))
            .or(disclosed_at)
            .or(fixed_at);
        let modified = report
            .events
            .iter()
            .map(|e| e.at)
            .chain(published)
            .max()
            .unwrap_or(report.data.received_at);
        let mut timeline = vec![Milestone {
            at: report.data.received_at,
            what: "Report received",
        }];
        timeline.extend(fixed_at.map(|at| Milestone { at, what: "Fixed" }));
        timeline.extend(disclosed_at.map(|at| Milestone {
            at,
            what: "Disclosed",
        }));
        let credits = match &report.credit {
            Some(CreditChoice::Named(c)) => vec![PublicCredit {
                name: match &c.handle {
                    Some(h) => format!("{} ({h})", c.name),
                    None => c.name.clone(),
                },
                contact: c.contact.clone(),
                kind: c.kind,
            }],
            Some(CreditChoice::Anonymous) | None => Vec::new(),
        };
        let domain = settings
            .gateway
            .address
            .rsplit_once('@')
            .map_or("localhost", |(_, d)| d)
            .to_ascii_lowercase();
        Ok(Advisory {
            report_id: report.id.to_string(),
            draft,
            title,
            description,
            cve: d(Detail::Cve),
            weakness: d(Detail::Cwe).map(|id| Weakness {
                name: super::cwe::name(&id),
                id,
            }),
            cvss: report.cvss().cloned(),
            severity: report.severity(),
            ecosystem: d(Detail::Ecosystem),
            package,
            purl: d(Detail::Purl),
            vendor: d(Detail::Vendor).unwrap_or_else(|| settings.gateway.name.clone()),
            product,
            spans: ranges.iter().map(span_of).collect(),
            fixed_versions,
            references: d(Detail::References)
                .map(|r| r.split(' ').map(str::to_string).collect())
                .unwrap_or_default(),
            remediation: d(Detail::Remediation),
            updates: if draft {
                Vec::new()
            } else {
                updates_after(report, published)
            },
            published,
            modified,
            timeline,
            credits,
            publisher: settings.gateway.name.clone(),
            namespace: format!("https://{domain}"),
        })
    }

    /// The OSV ID: the CVE when one is assigned, else the local `x_` one.
    pub(crate) fn osv_id(&self) -> String {
        match &self.cve {
            Some(cve) => cve.clone(),
            None => format!("x_{}", self.report_id),
        }
    }

    /// What the researcher's address may appear as: nothing, unless they chose it as
    /// their credit contact. `document` is the rendered advisory.
    pub(crate) fn check_no_leak(
        &self,
        report: &Report,
        document: &str,
    ) -> Result<(), AdvisoryError> {
        let chosen: Vec<String> = self
            .credits
            .iter()
            .filter_map(|c| c.contact.as_deref())
            .map(|c| c.trim_start_matches("mailto:").to_ascii_lowercase())
            .collect();
        let lower = document.to_ascii_lowercase();
        let addresses = std::iter::once(report.data.from.address.as_str())
            .chain(report.data.reply_to.as_ref().map(|m| m.address.as_str()));
        for a in addresses {
            let a = a.to_ascii_lowercase();
            if a.is_empty() || chosen.contains(&a) || !lower.contains(&a) {
                continue;
            }
            let field = Detail::ALL
                .into_iter()
                .find(|d| {
                    report
                        .detail(*d)
                        .is_some_and(|v| v.to_ascii_lowercase().contains(&a))
                })
                .map_or_else(
                    || "a field of the report".to_string(),
                    |d| d.label().to_string(),
                );
            return Err(AdvisoryError::Leak {
                id: self.report_id.clone(),
                field,
            });
        }
        Ok(())
    }
}

/// How a range reads as a span: a range that is only its `introduced` version, written
/// as that version alone, is that one version.
fn span_of(r: &AffectedRange) -> VersionSpan {
    let end = match (&r.fixed, &r.last_affected) {
        (Some(f), _) => RangeEnd::Fixed(f.clone()),
        (None, Some(l)) => RangeEnd::LastAffected(l.clone()),
        (None, None) => RangeEnd::Open,
    };
    match (&r.introduced, &end) {
        (Some(v), RangeEnd::Open) if r.text.trim() == v.as_str() => VersionSpan::Single(v.clone()),
        _ => VersionSpan::Range {
            introduced: r.introduced.clone(),
            end,
        },
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::indexing_slicing)]
mod tests {
    use super::*;
    use crate::config::Settings;
    use crate::store::Change;

    /// A fixed report whose extraction read `affected` and `fixed_versions`.
    fn fixed_report(affected: Vec<AffectedRange>, fixed_versions: Vec<String>) -> Report {
        let policy = Settings::parse_toml("").unwrap().policy;
        let now = Utc::now();
        let mut r: Report = serde_json::from_value(serde_json::json!({
            "id": "VR-2026-0007", "status": "new",
            "events": [{"at": now, "actor": "system", "action": "received", "note": null}],
            "received_at": now,
            "from": {"name": null, "address": "r@example.net"},
            "reply_to": null, "subject": null, "message_id": null,
            "content_sha256": "x", "form": "plain", "encrypted": false,
            "decrypted_with": null, "signature": "none", "signer_fingerprint": null,
            "signer_key_source": null, "reporter_key": null,
            "fields": {"title": "Path traversal in upload"},
            "missing": [], "attachments": [], "body": "", "source_file": null,
            "deadlines": crate::store::Deadlines::compute(&policy, now, None),
        }))
        .unwrap();
        r.data.fields.affected = affected;
        r.data.fields.fixed_versions = fixed_versions;
        for status in [Status::Triaged, Status::Accepted, Status::Fixed] {
            let change = Change {
                status: Some(status),
                ..Change::default()
            };
            r.apply(&change, "cli:test", now, &policy).unwrap();
        }
        r
    }

    #[test]
    fn ranges_come_from_the_extraction_until_a_maintainer_corrects_them() {
        let settings = Settings::parse_toml("").unwrap();
        let extracted = vec![
            AffectedRange {
                introduced: None,
                fixed: Some("2.4.1".into()),
                last_affected: None,
                text: "before 2.4.1".into(),
            },
            AffectedRange {
                introduced: Some("3.0".into()),
                fixed: None,
                last_affected: Some("3.2".into()),
                text: "3.0 to 3.2".into(),
            },
        ];
        let mut r = fixed_report(extracted, vec!["2.4.1".into(), "3.3".into()]);
        let a = Advisory::of(&r, &settings, false).unwrap();
        assert_eq!(
            a.spans,
            vec![
                VersionSpan::Range {
                    introduced: None,
                    end: RangeEnd::Fixed("2.4.1".into())
                },
                VersionSpan::Range {
                    introduced: Some("3.0".into()),
                    end: RangeEnd::LastAffected("3.2".into())
                },
            ]
        );
        assert_eq!(a.fixed_versions, ["2.4.1", "3.3"]);
        // The formats: OSV's events start at "0", CVE's versions read lessThan.
        let mut a2 = a.clone();
        a2.ecosystem = Some("npm".into());
        a2.package = Some("upload".into());
        a2.references = vec!["https://example.org/a".into()];
        let osv = serde_json::to_value(super::super::osv::record(&a2).unwrap()).unwrap();
        assert_eq!(
            osv["affected"][0]["ranges"][0]["events"],
            serde_json::json!([{"introduced": "0"}, {"fixed": "2.4.1"}])
        );
        let cve = serde_json::to_value(
            super::super::cve::container(&a2, Some("b3476cb9-2e3d-41a6-98d0-0f47421a65b6"))
                .unwrap(),
        )
        .unwrap();
        assert!(
            cve.to_string().contains("\"lessThanOrEqual\":\"3.2\""),
            "{cve}"
        );

        let policy = &settings.policy;
        let correct = Change {
            details: std::collections::BTreeMap::from([
                (Detail::Affected, "introduced=2.0 fixed=2.4.2".to_string()),
                (Detail::FixedIn, "2.4.2".to_string()),
            ]),
            ..Change::default()
        };
        r.apply(&correct, "cli:test", Utc::now(), policy).unwrap();
        let a = Advisory::of(&r, &settings, false).unwrap();
        assert_eq!(
            a.spans,
            vec![VersionSpan::Range {
                introduced: Some("2.0".into()),
                end: RangeEnd::Fixed("2.4.2".into())
            }]
        );
        assert_eq!(a.fixed_versions, ["2.4.2"]);
        // Changes after publication are the advisory's updates.
        assert_eq!(a.updates.len(), 1, "{:?}", a.updates);
        assert_eq!(a.updates[0].what, "Fixed in, Affected ranges");
    }

    #[test]
    fn a_range_written_as_one_version_is_that_version() {
        let one = AffectedRange {
            introduced: Some("1.2".into()),
            text: "1.2".into(),
            ..AffectedRange::default()
        };
        assert_eq!(span_of(&one), VersionSpan::Single("1.2".into()));
        let open = AffectedRange {
            introduced: Some("1.2".into()),
            text: "1.2 and later".into(),
            ..AffectedRange::default()
        };
        assert_eq!(
            span_of(&open),
            VersionSpan::Range {
                introduced: Some("1.2".into()),
                end: RangeEnd::Open
            }
        );
    }
}
