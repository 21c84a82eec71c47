//! Report field extraction.
//!
//! This module owns turning the already-decrypted text of a vulnerability report (and its already
//! decoded mail subject) into structured [`Fields`]: title, type, affected component and versions,
//! description, steps, proof of concept, impact, suggested fix, CVSS vector and score, stated
//! severity, credit and contact. It also owns converting HTML bodies to plain text and finding and
//! scoring CVSS vectors.
//!
//! It must not do I/O of any kind (no files, network, clock or logging), must not touch keys or
//! cryptography (decryption and signature checks happen before this module is called), and must
//! never panic or fail: the text is hostile internet input, so every pass over it is bounded and
//! linear-ish, regexes use the `regex` crate's finite automata only, and extraction always returns
//! *something* (possibly all `None`).
//!
//! # Layout
//! - `fields`: the field names, severity levels and the [`Fields`] record.
//! - `text`: cleaning (quotes, signatures, armour, code fences) and shared helpers.
//! - `labels`: which words name which field.
//! - `classify`: what one line is (label, heading, text).
//! - `sections`: one pass over the lines into labelled sections.
//! - `assemble`: fields from the sections.
//! - `inline`: "Label: value" inside running prose.
//! - `prose`: fallbacks for fields no label gave (severity, versions, type, steps).
//! - `closing`: the researcher's name and address after a closing formula or signature.
//! - `versions`: affected versions inferred from running text.
//! - `ranges`: the affected versions as ranges, and the versions stated as fixed.
//! - `scoring`: CVSS vectors found and scored.
//! - `html`: HTML bodies to text; `html_labels`: label tables and definition lists first.

mod assemble;
mod classify;
mod closing;
mod fields;
mod html;
mod html_labels;
mod inline;
mod labels;
mod prose;
mod ranges;
mod scoring;
mod sections;
mod text;
mod versions;

pub use fields::{AffectedRange, FieldName, Fields};
pub(crate) use fields::{Cvss, FIELD_CAP_BYTES, Severity};
pub use scoring::find_cvss;

/// Converts an HTML body to plain text for extraction: label tables and definition
/// lists become "label: value" lines first (`html_labels`), then the rest is rendered
/// (`html`).
pub fn html_to_text(html: &str) -> String {
    html::to_text(&html_labels::rewrite(html))
}

/// Extract fields from a report's plain text. `subject` is the mail subject (already decoded),
/// used as the title fallback after reply/forward markers, `[TAG]`s and "Vulnerability report:"
/// style prefixes are stripped. Never fails.
pub fn extract(subject: Option<&str>, text: &str) -> Fields {
    let cleaned = text::clean(text);
    let lines = cleaned.lines();
    let mut parsed = sections::parse(&lines);
    sections::prefer_named_versions(&mut parsed);
    let mut fields = assemble::assemble(&parsed, &lines);
    assemble::fill_inline(&mut fields, inline::find(&lines));
    if fields.title.is_none() {
        let from_subject = subject.and_then(prose::clean_subject);
        // A Subject such as "Security report" names no report: the body's title line does.
        let generic = from_subject
            .as_deref()
            .is_none_or(|s| labels::is_generic_subject(s) || prose::bulletin_line(s));
        fields.title = if generic {
            prose::body_title(&parsed, &lines).or(from_subject)
        } else {
            from_subject
        };
    }
    prose::fill_fallbacks(&mut fields, &lines);
    if fields.credit_name.is_none() || fields.contact.is_none() {
        let (name, address) = closing::signer(&text::normalise(text::suffix(text, 4096)));
        fields.credit_name = fields.credit_name.take().or(name);
        fields.contact = fields.contact.take().or(address);
    }
    fill_ranges(&mut fields, &lines);
    cap_all(&mut fields);
    fields
}

/// The structured view of the versions: ranges read from the affected-versions text (cut
/// before any "fixed in" part, which is never affected), and the fixed versions stated
/// anywhere in the report.
fn fill_ranges(fields: &mut Fields, lines: &[text::Line<'_>]) {
    // "対象製品" over one product and version per line: that list is the affected list.
    if fields.affected_versions.is_none() || fields.inferred.affected_versions {
        let listed = fields
            .affected_component
            .as_deref()
            .and_then(|c| ranges::product_list(c).map(|product| (c.to_owned(), product)));
        if let Some((list, product)) = listed {
            fields.affected_versions = Some(list);
            fields.inferred.affected_versions = false;
            fields.affected_component = (!product.is_empty()).then_some(product);
        }
    }
    // "影响产品：青云路由器 QR-300 V2.1.0.8": a product with its version names both.
    if fields.affected_versions.is_none()
        && let Some(component) = fields.affected_component.as_deref()
        && let Some(product) = ranges::product_before_version(component)
    {
        fields.affected_versions = Some(component.to_owned());
        fields.affected_component = Some(product);
    }
    if let Some(text) = fields.affected_versions.as_mut() {
        let kept = ranges::before_fixed(text).trim_end().to_owned();
        if !kept.trim().is_empty() {
            *text = kept;
        }
    }
    fields.affected = fields
        .affected_versions
        .as_deref()
        .map(ranges::ranges)
        .unwrap_or_default();
    let prose: Vec<&str> = lines.iter().filter(|l| !l.code).map(|l| l.text).collect();
    let prose = prose.join("\n");
    let mut fixed = ranges::fixed_versions(&prose);
    let more = ranges::fixed_in_sentences(&prose).into_iter().chain(
        fields
            .suggested_fix
            .as_deref()
            .map(|fix| ranges::fixed_in_section(fix, &fields.affected))
            .unwrap_or_default(),
    );
    for v in more {
        if !fixed.contains(&v) {
            fixed.push(v);
        }
    }
    fields.fixed_versions = fixed;
}

/// The fields a text gives under labels only, in any language the extraction knows
/// ("Affected versions: 2.0-2.3"): nothing inferred from prose or a subject. What a
/// researcher's follow-up answers to "what we still need" is read with this.
pub(crate) fn labelled(text: &str) -> Fields {
    let cleaned = text::clean(text);
    let lines = cleaned.lines();
    let parsed = sections::parse(&lines);
    let mut fields = assemble::labelled_only(&parsed);
    cap_all(&mut fields);
    fields
}

fn cap_all(fields: &mut Fields) {
    for value in [
        &mut fields.title,
        &mut fields.vulnerability_type,
        &mut fields.affected_component,
        &mut fields.affected_versions,
        &mut fields.description,
        &mut fields.steps_to_reproduce,
        &mut fields.proof_of_concept,
        &mut fields.impact,
        &mut fields.suggested_fix,
        &mut fields.credit_name,
        &mut fields.contact,
    ] {
        if let Some(s) = value.as_mut() {
            text::truncate_at_char_boundary(s, FIELD_CAP_BYTES);
            if s.trim().is_empty() {
                *value = None;
            }
        }
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::indexing_slicing)]
mod tests;
