//! Advisories from fixed reports (`disclosured advisory ID --format osv|csaf|cve`): one
//! shared model ([`model`]), read from the report and what maintainers set on it, and
//! one file per format that renders it as typed structures serialised with serde_json.
//!
//! Reads the store's records, writes nothing: `cli` calls it and prints or saves the
//! document. It never reads internal notes, the conversation or the report's text,
//! and refuses a document that would carry the researcher's address unless they chose
//! it as their credit contact.
//!
//! # Layout
//! - `model`: the advisory every format renders, and the refusals.
//! - `osv`, `csaf`, `cve`: the three formats.
//! - `cwe`: the CWE names CSAF requires beside the IDs.

mod csaf;
mod cve;
mod cwe;
mod model;
mod osv;

use chrono::{DateTime, SecondsFormat, Utc};

pub(crate) use model::AdvisoryError;

use crate::store::Report;

/// The formats `advisory --format` writes.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub(crate) enum Format {
    /// OSV 1.7 (osv.dev, GitHub advisories).
    Osv,
    /// CSAF 2.0 csaf_security_advisory.
    Csaf,
    /// CVE Record 5.1: the CNA container (with --full, the whole record).
    Cve,
}

/// How an advisory is written.
#[derive(Debug, Clone)]
pub(crate) struct Options {
    pub(crate) format: Format,
    pub(crate) draft: bool,
    /// CVE: the whole record rather than the CNA container.
    pub(crate) full: bool,
    /// CVE: the CNA's organisation UUID.
    pub(crate) org_id: Option<String>,
}

/// An advisory as written: the JSON and the file name its format wants.
#[derive(Debug, Clone)]
pub(crate) struct Written {
    pub(crate) json: String,
    pub(crate) file_name: String,
}

/// A time as all three formats take it: RFC 3339, UTC, `Z`.
fn rfc3339(t: DateTime<Utc>) -> String {
    t.to_rfc3339_opts(SecondsFormat::Secs, true)
}

/// The advisory of `report` in the format `options` asks for.
pub(crate) fn write(
    report: &Report,
    settings: &crate::config::Settings,
    options: &Options,
) -> Result<Written, AdvisoryError> {
    let a = model::Advisory::of(report, settings, options.draft)?;
    let org_id = options.org_id.as_deref();
    let (value, file_name) = match options.format {
        Format::Osv => {
            let r = osv::record(&a)?;
            (serde_json::to_value(r), format!("{}.json", a.osv_id()))
        }
        Format::Csaf => (
            serde_json::to_value(csaf::document(&a)),
            csaf::file_name(&a.report_id),
        ),
        Format::Cve if options.full => (
            serde_json::to_value(cve::full_record(&a, org_id)?),
            format!("{}.json", a.cve.as_deref().unwrap_or(&a.report_id)),
        ),
        Format::Cve => (
            serde_json::to_value(cve::container(&a, org_id)?),
            format!("{}.cna.json", a.cve.as_deref().unwrap_or(&a.report_id)),
        ),
    };
    // Typed structures of strings and numbers: serialising them cannot fail.
    let json = value
        .and_then(|v| serde_json::to_string_pretty(&v))
        .unwrap_or_default();
    a.check_no_leak(report, &json)?;
    Ok(Written {
        json: json + "\n",
        file_name,
    })
}

/// Whether `s` is a version 4 UUID, as CVE organisation IDs are (the CVE schema's
/// pattern: `xxxxxxxx-xxxx-4xxx-[89ab]xxx-xxxxxxxxxxxx`).
pub(crate) fn is_uuid(s: &str) -> bool {
    let groups: Vec<&str> = s.split('-').collect();
    let shape = groups.len() == 5
        && groups
            .iter()
            .zip([8, 4, 4, 4, 12])
            .all(|(g, n)| g.len() == n && g.bytes().all(|b| b.is_ascii_hexdigit()));
    shape
        && groups.get(2).is_some_and(|g| g.starts_with('4'))
        && groups
            .get(3)
            .is_some_and(|g| g.starts_with(['8', '9', 'a', 'b', 'A', 'B']))
}
