//! Line classification: what a single line is, structurally (blank, text, a recognised label
//! in any of its shapes, or an unrecognised heading). Knows nothing of the lines around it.

use super::fields::FieldName;
use super::labels::{self, is_short};
use super::text::{Line, indent_width, prefix};

/// Lines longer than this are never a bare label; keeps label lookups cheap on huge lines.
const HEAD_BYTES: usize = 256;

/// What a single line is, structurally.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Kind<'a> {
    Blank,
    Text,
    /// A recognised label. `inline` is `None` for heading-like lines (no colon), `Some` for key
    /// lines (possibly empty). `listed` marks lines that carried a list/number marker.
    Label {
        field: FieldName,
        inline: Option<&'a str>,
        heading: bool,
        listed: bool,
    },
    /// An unrecognised heading; `level` 1 is a title candidate.
    Unknown {
        text: &'a str,
        level: usize,
    },
}

/// Splits "Label: value" / "**Label:** value" / "**Label**: value" / "Label" / "Label:".
/// Returns the field and `None` for a bare label, `Some(value)` when a colon was present.
pub(crate) fn split_label(text: &str) -> Option<(FieldName, Option<&str>)> {
    let t = text.trim();
    if t.is_empty() {
        return None;
    }
    let unbolded = t.trim_end_matches(['*', '_']).trim_end();
    let colon_last = unbolded.ends_with(':') || unbolded.ends_with('：');
    if t.len() <= 2 * HEAD_BYTES
        && let Some(field) = labels::lookup(t)
    {
        return Some((field, if colon_last { Some("") } else { None }));
    }
    let head = prefix(t, 80);
    let pos = head.find([':', '：'])?;
    let key = t.get(..pos)?;
    if !plausible_key(key) {
        return None;
    }
    let field = labels::lookup(key)?;
    let sep_len = t.get(pos..)?.chars().next()?.len_utf8();
    let mut value = t.get(pos + sep_len..)?.trim();
    let lead = key.trim_start();
    if lead.starts_with("**") || lead.starts_with("__") {
        value = value.trim_start_matches(['*', '_']).trim_start();
        if let Some(v) = value
            .strip_suffix("**")
            .or_else(|| value.strip_suffix("__"))
            && !key.trim_end().ends_with("**")
            && !key.trim_end().ends_with("__")
        {
            value = v.trim_end();
        }
    }
    Some((field, Some(value)))
}

/// Keys are short runs of words; anything with URL or code punctuation is content.
fn plausible_key(key: &str) -> bool {
    let k = key.trim();
    !k.is_empty()
        && k.len() <= 64
        && k.chars()
            .next()
            .is_some_and(|c| c.is_alphanumeric() || "*_(（【［[".contains(c))
        && k.chars()
            .all(|c| c.is_alphanumeric() || " *_-/().'’&#\t（）【】［］[]\u{3000}".contains(c))
}

/// Splits a list marker ("1.", "2)", "(3)", "-", "*", "+", "•") off a line.
pub(crate) fn strip_list_marker(t: &str) -> Option<(&str, bool)> {
    for bullet in ["- ", "* ", "+ ", "• "] {
        if let Some(rest) = t.strip_prefix(bullet) {
            return Some((rest.trim_start(), false));
        }
    }
    let rest = labels::strip_numbering(t);
    if rest.len() != t.len() {
        return Some((rest, true));
    }
    None
}

pub(crate) fn heading_shaped(text: &str) -> bool {
    let t = text.trim();
    !t.is_empty()
        && t.len() <= 400
        && t.chars().count() <= 100
        && !t.ends_with(['.', ',', ';', '!', '?'])
        && !t.chars().next().is_some_and(char::is_lowercase)
}

fn atx(t: &str) -> Option<(usize, &str)> {
    let level = t.bytes().take_while(|b| *b == b'#').count();
    if !(1..=6).contains(&level) {
        return None;
    }
    let rest = t.get(level..)?;
    if !rest.is_empty() && !rest.starts_with([' ', '\t']) {
        return None;
    }
    let text = rest.trim().trim_end_matches('#').trim_end();
    Some((level, text))
}

pub(crate) fn classify(line: &str) -> Kind<'_> {
    if line.trim().is_empty() {
        return Kind::Blank;
    }
    let t = line.trim();
    if is_fixed_key(t) {
        // "Fixed in: 2.7.8" ends the section before it; the versions are read apart.
        return Kind::Unknown { text: t, level: 2 };
    }
    if indent_width(line) > 3 {
        // Right-aligned header blocks of advisories ("      title: X", "     product: Y",
        // lower-case keys) are key lines; other indented lines are code or continuation.
        return match split_label(t) {
            Some((field, Some(value)))
                if indent_width(line) >= 5
                    && t.starts_with(|c: char| c.is_lowercase())
                    && !value.is_empty() =>
            {
                Kind::Label {
                    field,
                    inline: Some(value),
                    heading: false,
                    listed: false,
                }
            }
            _ => Kind::Text,
        };
    }
    if let Some((level, text)) = atx(t) {
        return atx_kind(level, text);
    }
    if let Some((rest, numbered)) = strip_list_marker(t) {
        return listed_kind(rest, numbered);
    }
    if let Some(kind) = marked_heading(t) {
        return kind;
    }
    if let Some((field, inline)) = split_label(t) {
        return plain_label_kind(t, field, inline);
    }
    if let Some((field, value)) = aligned_label(t) {
        return Kind::Label {
            field,
            inline: Some(value),
            heading: false,
            listed: false,
        };
    }
    bold_heading(t).unwrap_or(Kind::Text)
}

/// "Fixed in:", "Patched versions:", "修复版本：": the key of a line stating fixed versions.
fn is_fixed_key(t: &str) -> bool {
    let head = prefix(t, 80);
    let Some(pos) = head.find([':', '：']) else {
        return false;
    };
    let key = t.get(..pos).unwrap_or("");
    let key = strip_list_marker(key.trim()).map_or(key, |(rest, _)| rest);
    labels::is_fixed_label(key)
}

/// Symbols researchers put before a heading, mostly in Japanese and Chinese reports.
const HEADING_SYMBOLS: &[char] = &[
    '■', '□', '●', '○', '◆', '◇', '▶', '►', '▷', '▪', '◼', '◎', '★', '☆', '❖', '◉',
];

/// Headings marked by a symbol ("■ 概要"), brackets ("【影响版本】2.0", "[Title] X") or
/// equals signs ("== Impact =="): like an ATX heading, a label alone opens a section and
/// a label with a value is a key line. Brackets must hold a label; "[1] https://..." is text.
fn marked_heading(t: &str) -> Option<Kind<'_>> {
    for (open, close) in [('【', '】'), ('[', ']'), ('［', '］'), ('〔', '〕')] {
        if let Some(inner_and_rest) = t.strip_prefix(open)
            && let Some((inner, rest)) = inner_and_rest.split_once(close)
            && let Some(field) = labels::lookup(inner)
        {
            let value = rest.trim().trim_start_matches([':', '：', '-', '–']).trim();
            return Some(Kind::Label {
                field,
                inline: (!value.is_empty()).then_some(value),
                heading: value.is_empty(),
                listed: false,
            });
        }
    }
    let symbol = t.trim_start_matches(HEADING_SYMBOLS);
    let text = if symbol.len() != t.len() {
        symbol.trim()
    } else if t.starts_with("==") {
        t.trim_matches('=').trim()
    } else {
        return None;
    };
    if text.is_empty() {
        return None;
    }
    let text = labels::strip_numbering(text);
    if let Some((field, inline)) = split_label(text) {
        let inline = inline.filter(|v| !v.is_empty());
        return Some(Kind::Label {
            field,
            inline,
            heading: inline.is_none(),
            listed: false,
        });
    }
    heading_shaped(text).then_some(Kind::Unknown { text, level: 2 })
}

/// "Component ....... auth.php", "影响版本……2.0", "Versions        2.0 - 2.2" (columns),
/// "Component\tauth.php" and "| Component | auth.php |": a label, a leader or a gap, a value.
fn aligned_label(t: &str) -> Option<(FieldName, &str)> {
    if let Some(row) = t.strip_prefix('|') {
        let cells: Vec<&str> = row.trim_end().trim_end_matches('|').split('|').collect();
        return match cells.as_slice() {
            [key, value] if !value.trim().is_empty() => Some((labels::lookup(key)?, value.trim())),
            _ => None,
        };
    }
    let head = prefix(t, 96);
    let (start, end) = leader(head)?;
    let key = t.get(..start)?;
    if !plausible_key(key) {
        return None;
    }
    let field = labels::lookup(key)?;
    let value = t.get(end..)?.trim().trim_start_matches([':', '：']).trim();
    // "Version  Datum  Beschreibung": the header row of a column table names no value.
    let header_row = leader(value).is_some() && !value.contains(|c: char| c.is_ascii_digit());
    (!value.is_empty() && !header_row).then_some((field, value))
}

/// Byte range of the first leader in `s`: three or more dots (".", "…", "·", "・", "‥", spaced
/// or not), two or more spaces, or a tab.
fn leader(s: &str) -> Option<(usize, usize)> {
    let is_dot = |c: char| matches!(c, '.' | '…' | '·' | '・' | '‥');
    let mut chars = s.char_indices().peekable();
    while let Some((i, c)) = chars.next() {
        if !(is_dot(c) || c == ' ' || c == '\t') {
            continue;
        }
        let mut end = i + c.len_utf8();
        let mut dots = usize::from(is_dot(c)) * if c == '…' { 3 } else { 1 };
        let mut spaces = usize::from(c == ' ');
        let mut tab = c == '\t';
        while let Some(&(j, d)) = chars.peek() {
            if !(is_dot(d) || d == ' ' || d == '\t') {
                break;
            }
            dots += usize::from(is_dot(d)) * if d == '…' { 3 } else { 1 };
            spaces += usize::from(d == ' ');
            tab |= d == '\t';
            end = j + d.len_utf8();
            chars.next();
        }
        if dots >= 3 || (dots == 0 && (spaces >= 2 || tab)) {
            return Some((i, end));
        }
    }
    None
}

/// "## Component: auth.php" behaves like a key line, "## Impact" like a heading.
fn atx_kind(level: usize, text: &str) -> Kind<'_> {
    if text.is_empty() {
        return Kind::Text;
    }
    let text = labels::strip_numbering(text);
    if let Some((field, inline)) = split_label(text) {
        let inline = inline.filter(|v| !v.is_empty());
        return Kind::Label {
            field,
            inline,
            heading: inline.is_none(),
            listed: false,
        };
    }
    // "# run this as root" in an unfenced snippet is a shell comment, not a heading.
    if text.chars().next().is_some_and(char::is_lowercase) {
        return Kind::Text;
    }
    Kind::Unknown { text, level }
}

fn listed_kind(rest: &str, numbered: bool) -> Kind<'_> {
    match split_label(rest) {
        // A bare "- Impact" bullet is list content; "2) Description" is a section.
        Some((field, None)) if numbered => Kind::Label {
            field,
            inline: None,
            heading: true,
            listed: true,
        },
        Some((field, Some(v))) => Kind::Label {
            field,
            inline: Some(v),
            heading: false,
            listed: true,
        },
        _ => Kind::Text,
    }
}

fn plain_label_kind<'a>(t: &str, field: FieldName, inline: Option<&'a str>) -> Kind<'a> {
    let bold = t.starts_with("**") || t.starts_with("__");
    match inline {
        Some(v) => Kind::Label {
            field,
            inline: Some(v),
            heading: false,
            listed: false,
        },
        // A bare label line ("Description") is trusted for section-like fields, multi-word
        // labels and capitalised words ("Tipologia", "Version" as CSIRT bulletins head their
        // fields); "version" in lower case alone on a line is too likely a wrapped sentence.
        // CJK labels have no spaces to tell them from a word of prose; they are labels alone.
        None if bold
            || !is_short(field)
            || t.contains(' ')
            || t.chars().next().is_some_and(char::is_uppercase)
            || t.chars().any(labels::is_cjk) =>
        {
            Kind::Label {
                field,
                inline: None,
                heading: true,
                listed: false,
            }
        }
        None => Kind::Text,
    }
}

/// A standalone bold line ("**References**") is a heading when it looks like one.
fn bold_heading(t: &str) -> Option<Kind<'_>> {
    for mark in ["**", "__"] {
        if let Some(inner) = t.strip_prefix(mark).and_then(|r| r.strip_suffix(mark))
            && !inner.contains(mark)
            && inner.chars().count() <= 60
            && heading_shaped(inner)
        {
            return Some(Kind::Unknown {
                text: inner.trim(),
                level: 3,
            });
        }
    }
    None
}

pub(crate) fn setext_level(line: &Line<'_>) -> Option<usize> {
    if line.code || indent_width(line.text) > 3 {
        return None;
    }
    let t = line.text.trim();
    let first = t.chars().next()?;
    if (first != '=' && first != '-') || t.len() < 3 || !t.chars().all(|c| c == first) {
        return None;
    }
    Some(if first == '=' { 1 } else { 2 })
}

/// Exposed for tests of the classifier.
#[cfg(test)]
fn kind_name(line: &str) -> String {
    match classify(line) {
        Kind::Blank => "blank".into(),
        Kind::Text => "text".into(),
        Kind::Label {
            field,
            inline,
            heading,
            ..
        } => format!(
            "{}{}{}",
            field.as_str(),
            if heading { "#" } else { "" },
            inline.map(|v| format!("={v}")).unwrap_or_default()
        ),
        Kind::Unknown { text, level } => format!("unknown{level}:{text}"),
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::indexing_slicing)]
mod tests {
    use super::*;

    #[test]
    fn classify_table() {
        let cases: &[(&str, &str)] = &[
            ("", "blank"),
            ("   ", "blank"),
            ("Title: SQL injection", "title=SQL injection"),
            ("Type: XSS", "vulnerability_type=XSS"),
            ("**Severity:** High", "severity=High"),
            ("**Severity**: High", "severity=High"),
            ("**Title: SQLi in login**", "title=SQLi in login"),
            ("Description:", "description="),
            ("Description", "description#"),
            ("Version", "affected_versions#"),
            ("version", "text"),
            ("Tipologia", "vulnerability_type#"),
            ("Typ", "vulnerability_type#"),
            ("typ", "text"),
            ("Affected versions", "affected_versions#"),
            ("## Steps to Reproduce", "steps_to_reproduce#"),
            ("### 3. Impact", "impact#"),
            ("# Title: XSS", "title=XSS"),
            (
                "# SQL injection in login",
                "unknown1:SQL injection in login",
            ),
            ("## References", "unknown2:References"),
            ("# run as root", "text"),
            ("#hashtag", "text"),
            ("**Impact**", "impact#"),
            ("**References**", "unknown3:References"),
            ("**Note: the server must run in debug mode.**", "text"),
            ("1. Title: X", "title=X"),
            ("2) Description", "description#"),
            ("3. Steps to reproduce:", "steps_to_reproduce="),
            ("1. Go to /login", "text"),
            ("- Severity: High", "severity=High"),
            ("- Impact", "text"),
            ("Step 1: open the page", "text"),
            ("http://example.org/x", "text"),
            ("Host: example.org", "text"),
            ("    Title: indented code", "text"),
            ("CVSS:3.1/AV:N/AC:L", "cvss_vector=3.1/AV:N/AC:L"),
            (
                "Vulnerability Type / CWE: CWE-89",
                "vulnerability_type=CWE-89",
            ),
            // German labels are known since issue 16; an unknown word is still not a label.
            ("Titel：X", "title=X"),
            ("Notiz：X", "text"),
            ("Title：全角", "title=全角"),
        ];
        for (line, want) in cases {
            assert_eq!(kind_name(line), *want, "line {line:?}");
        }
    }
}
