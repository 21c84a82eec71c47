//! "Label: value" inside running prose: "… (Type: XSS, CWE-79). Affected versions: 2.0 to
//! 2.2." A label counts only after a sentence or clause boundary (so "content type: json" is
//! not a type) or, in CJK text, as the end of a run of CJK characters ("该漏洞影响版本：2.0");
//! the value ends at the sentence end, a closing bracket that was open before the label, or the
//! next inline label. Labels at the start of a line are the section parser's.

use super::classify::strip_list_marker;
use super::fields::FieldName;
use super::labels::{self, is_cjk};
use super::text::{Line, prefix};

/// Only so much of a line is searched, and only so many colons in it.
const LINE_BYTES: usize = 4096;
const MAX_COLONS: usize = 16;
/// Longest label, in words (Latin scripts) or characters (CJK).
const MAX_WORDS: usize = 5;
const MAX_CJK_CHARS: usize = 12;

#[derive(Debug, Clone, Copy)]
struct Hit {
    field: FieldName,
    /// Byte offset where the label starts and where its value starts.
    label_start: usize,
    value_start: usize,
    /// The label followed an opening bracket: its value ends at the closing one.
    bracketed: bool,
}

/// Every inline label and its value in the lines, in order.
///
/// "- Produto: A 2024. Versões afetadas: >= 4.0.0 até < 4.2.7" on several list items: the
/// versions of every item make one value, one line per item.
pub(crate) fn find(lines: &[Line<'_>]) -> Vec<(FieldName, String)> {
    let mut out: Vec<(FieldName, String)> = Vec::new();
    // Where the versions of the first list item went, to add the next items' versions to.
    let mut listed_versions: Option<usize> = None;
    for line in lines.iter().filter(|l| !l.code) {
        let text = prefix(line.text, LINE_BYTES);
        let listed = strip_list_marker(text.trim()).is_some();
        let hits = hits(text);
        for (k, hit) in hits.iter().enumerate() {
            let limit = hits.get(k + 1).map_or(text.len(), |next| next.label_start);
            let rest = text.get(hit.value_start..limit).unwrap_or("");
            let value = value(rest, hit.bracketed);
            if value.is_empty() {
                continue;
            }
            if hit.field == FieldName::AffectedVersions && listed {
                if let Some((_, first)) = listed_versions.and_then(|i| out.get_mut(i)) {
                    first.push('\n');
                    first.push_str(value);
                    continue;
                }
                listed_versions = Some(out.len());
            }
            out.push((hit.field, value.to_owned()));
        }
    }
    out
}

fn hits(text: &str) -> Vec<Hit> {
    let lead = text.len() - text.trim_start().len();
    let mut hits = Vec::new();
    for (pos, colon) in text
        .char_indices()
        .filter(|(_, c)| matches!(c, ':' | '：'))
        .take(MAX_COLONS)
    {
        let value_start = pos + colon.len_utf8();
        // "https://" is no label ("10:30" and "CVSS:3.1/…" fail the label lookup below).
        let after = text.get(value_start..).unwrap_or("");
        if after.starts_with('/') {
            continue;
        }
        let before = text.get(..pos).unwrap_or("");
        if let Some((field, label_start, bracketed)) = label_before(before)
            && label_start > lead
            && field != FieldName::CvssVector
        {
            hits.push(Hit {
                field,
                label_start,
                value_start,
                bracketed,
            });
        }
    }
    hits
}

/// The label ending `before` (just before a colon): its field, start, and whether an opening
/// bracket precedes it.
fn label_before(before: &str) -> Option<(FieldName, usize, bool)> {
    let trimmed = before.trim_end();
    if trimmed.chars().next_back().is_some_and(is_cjk) {
        return cjk_label(trimmed);
    }
    // Candidate starts: after each of the last MAX_WORDS spaces, longest first.
    let mut starts: Vec<usize> = trimmed
        .char_indices()
        .filter(|(_, c)| c.is_whitespace() || is_boundary(*c))
        .map(|(i, c)| i + c.len_utf8())
        .collect();
    starts.insert(0, 0);
    let from = starts.len().saturating_sub(MAX_WORDS + 1);
    for &start in starts.get(from..).unwrap_or_default() {
        let candidate = trimmed.get(start..)?.trim();
        if candidate.is_empty() {
            continue;
        }
        let label_start =
            start + (trimmed.get(start..)?.len() - trimmed.get(start..)?.trim_start().len());
        let preceding = trimmed.get(..label_start)?.trim_end();
        let boundary = preceding.chars().next_back();
        let sentence = match boundary {
            None => true,
            Some(c) => is_boundary(c),
        };
        if sentence && let Some(field) = labels::lookup(candidate) {
            let bracketed = matches!(boundary, Some('(' | '（' | '['));
            return Some((field, label_start, bracketed));
        }
    }
    None
}

/// After these a new clause starts, so a label may follow.
fn is_boundary(c: char) -> bool {
    matches!(
        c,
        '(' | '['
            | '.'
            | ';'
            | ','
            | '!'
            | '?'
            | '—'
            | '–'
            | '。'
            | '，'
            | '、'
            | '；'
            | '（'
            | '【'
            | '「'
            | '！'
            | '？'
    )
}

/// The longest CJK suffix of `before` (two characters at least) that is a label.
fn cjk_label(before: &str) -> Option<(FieldName, usize, bool)> {
    let starts: Vec<usize> = before
        .char_indices()
        .rev()
        .take_while(|(_, c)| is_cjk(*c))
        .take(MAX_CJK_CHARS)
        .map(|(i, _)| i)
        .collect();
    for &start in starts.iter().rev() {
        let candidate = before.get(start..)?;
        if candidate.chars().count() < 2 {
            continue;
        }
        if let Some(field) = labels::lookup(candidate) {
            let bracketed = before.get(..start)?.ends_with(['(', '（']);
            return Some((field, start, bracketed));
        }
    }
    None
}

/// The value: up to the sentence end (". ", "。", ";", "!" …), or the closing bracket when the
/// label was opened by one.
fn value(rest: &str, bracketed: bool) -> &str {
    let mut depth = 0usize;
    let mut end = rest.len();
    let mut chars = rest.char_indices().peekable();
    while let Some((i, c)) = chars.next() {
        let next = chars.peek().map(|(_, n)| *n);
        let stop = match c {
            '(' | '（' => {
                depth += 1;
                false
            }
            ')' | '）' if depth == 0 => bracketed,
            ')' | '）' => {
                depth -= 1;
                false
            }
            '.' | '!' | '?' => next.is_none_or(char::is_whitespace),
            '。' | '！' | '？' | ';' | '；' => true,
            _ => false,
        };
        if stop {
            end = i;
            break;
        }
    }
    rest.get(..end)
        .unwrap_or("")
        .trim()
        .trim_end_matches([',', '，', '、'])
        .trim()
}

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::indexing_slicing)]
mod tests {
    use super::*;

    fn found(text: &str) -> Vec<(FieldName, String)> {
        find(&[Line { text, code: false }])
    }

    #[test]
    fn inline_labels() {
        use FieldName::*;
        let cases: &[(&str, &[(FieldName, &str)])] = &[
            (
                "The upload form is injectable (Type: XSS, CWE-79). Affected versions: 2.0 to 2.2.",
                &[
                    (VulnerabilityType, "XSS, CWE-79"),
                    (AffectedVersions, "2.0 to 2.2"),
                ],
            ),
            (
                "We found it in the wiki. Severity: high; Component: editor",
                &[(Severity, "high"), (AffectedComponent, "editor")],
            ),
            (
                "Der Fehler steckt im Importer. Betroffene Versionen: 3.1 bis 3.4. Danke!",
                &[(AffectedVersions, "3.1 bis 3.4")],
            ),
            (
                "该漏洞影响版本：2.0 至 2.2。",
                &[(AffectedVersions, "2.0 至 2.2")],
            ),
            ("このバグの深刻度：高。", &[(Severity, "高")]),
            ("Title: at the start is the parser's", &[]),
            ("set the content type: json", &[]),
            ("see https://example.org/a:b and 10:30", &[]),
            ("my vector is CVSS:3.1/AV:N", &[]),
        ];
        for (text, want) in cases {
            let want: Vec<(FieldName, String)> =
                want.iter().map(|(f, v)| (*f, (*v).to_owned())).collect();
            assert_eq!(found(text), want, "text {text:?}");
        }
    }
}
