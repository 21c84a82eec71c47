//! Label/value structure in HTML, made explicit before the HTML becomes text: a `<table>` whose
//! rows are `<th>label</th><td>value</td>` (or two `<td>`s), a table with one header row of
//! labels and one row of values, and a `<dl>` of `<dt>label</dt><dd>value</dd>`. Rendered as
//! they are, these come out as drawn tables or indented lists the section parser cannot read;
//! rewritten, each pair becomes `<p>label: value</p>` (or `<h3>label</h3>value` when the value
//! holds blocks such as paragraphs or code). Tables and lists naming no known label are left
//! alone. `<h2>` headings need nothing: they render as "## heading".

use std::borrow::Cow;

use super::html::{strip_tags, tag_len, tag_name};
use super::labels;

/// A tag found in the document: byte range and lowercased name.
#[derive(Debug, Clone)]
struct Tag {
    start: usize,
    end: usize,
    name: String,
    closing: bool,
}

/// Tags of `html` from byte `from`, in order; comments and stray `<` are skipped.
fn tags(html: &str, from: usize) -> impl Iterator<Item = Tag> + '_ {
    let mut pos = from;
    std::iter::from_fn(move || {
        loop {
            let rel = html.get(pos..)?.find('<')?;
            let start = pos + rel;
            let tail = html.get(start..)?;
            let len = tag_len(tail).max(1);
            pos = start + len;
            let (name, closing) = tag_name(tail.get(..len).unwrap_or(tail));
            if !name.is_empty() {
                return Some(Tag {
                    start,
                    end: start + len,
                    name,
                    closing,
                });
            }
        }
    })
}

/// Rewrites label tables and definition lists; borrows the input when there are none.
pub(crate) fn rewrite(html: &str) -> Cow<'_, str> {
    let mut out = String::new();
    let mut copied = 0;
    let mut iter = tags(html, 0);
    while let Some(tag) = iter.next() {
        if tag.closing || !matches!(tag.name.as_str(), "table" | "dl") {
            continue;
        }
        let Some((inner_end, end)) = block_end(html, &tag) else {
            break;
        };
        let inner = html.get(tag.end..inner_end).unwrap_or("");
        let pairs = if tag.name == "table" {
            table_pairs(inner)
        } else {
            list_pairs(inner).map(owned)
        };
        if let Some(pairs) = pairs {
            out.push_str(html.get(copied..tag.start).unwrap_or(""));
            for (label, value) in pairs {
                push_pair(&mut out, &label, &value);
            }
            copied = end;
        }
        iter = tags(html, end);
    }
    if copied == 0 {
        return Cow::Borrowed(html);
    }
    out.push_str(html.get(copied..).unwrap_or(""));
    Cow::Owned(out)
}

/// Where the element opened by `open` ends: the start of its matching close tag and the end
/// of it. `None` when it is never closed.
fn block_end(html: &str, open: &Tag) -> Option<(usize, usize)> {
    let mut depth = 0usize;
    for tag in tags(html, open.end) {
        if tag.name != open.name {
            continue;
        }
        if !tag.closing {
            depth += 1;
        } else if depth == 0 {
            return Some((tag.start, tag.end));
        } else {
            depth -= 1;
        }
    }
    None
}

fn push_pair(out: &mut String, label: &str, value: &str) {
    let lower = value.to_ascii_lowercase();
    let blocks = [
        "<p",
        "<div",
        "<pre",
        "<ul",
        "<ol",
        "<table",
        "<br",
        "<h",
        "<blockquote",
    ]
    .iter()
    .any(|b| lower.contains(b));
    if blocks {
        out.push_str(&format!("<h3>{label}</h3><div>{value}</div>"));
    } else {
        out.push_str(&format!("<p>{label}: {value}</p>"));
    }
}

/// Cells of each row: `(is_header, inner html)`.
type Row<'a> = Vec<(bool, &'a str)>;

/// Ends the open cell, if any, at byte `at`.
fn close<'a>(inner: &'a str, rows: &mut [Row<'a>], open: &mut Option<(bool, usize)>, at: usize) {
    if let Some((header, start)) = open.take()
        && let Some(row) = rows.last_mut()
    {
        row.push((header, inner.get(start..at).unwrap_or("")));
    }
}

fn rows(inner: &str) -> Vec<Row<'_>> {
    let mut rows: Vec<Row<'_>> = Vec::new();
    let mut open: Option<(bool, usize)> = None;
    for tag in tags(inner, 0) {
        match (tag.name.as_str(), tag.closing) {
            ("tr", false) => {
                close(inner, &mut rows, &mut open, tag.start);
                rows.push(Vec::new());
            }
            ("td" | "th", false) => {
                close(inner, &mut rows, &mut open, tag.start);
                if rows.is_empty() {
                    rows.push(Vec::new());
                }
                open = Some((tag.name == "th", tag.end));
            }
            ("td" | "th" | "tr", true) => close(inner, &mut rows, &mut open, tag.start),
            _ => {}
        }
    }
    close(inner, &mut rows, &mut open, inner.len());
    rows.retain(|r| !r.is_empty());
    rows
}

fn is_label(html: &str) -> bool {
    let text = strip_tags(html);
    labels::lookup(&text).is_some() || labels::is_fixed_label(&text)
}

/// A label and its value, as HTML.
type Pair = (String, String);

fn owned(pairs: Vec<(&str, &str)>) -> Vec<Pair> {
    pairs
        .into_iter()
        .map(|(l, v)| (l.to_owned(), v.to_owned()))
        .collect()
}

/// Label rows ("Component | auth.php"), one header row of labels over one row of values, or
/// a header row over several rows (one per product or release line): each labelled column
/// becomes one value, its cells one per line.
fn table_pairs(inner: &str) -> Option<Vec<Pair>> {
    let pairs = simple_table_pairs(inner).map(owned);
    if pairs.is_some() {
        return pairs;
    }
    let rows = rows(inner);
    let (header, values) = rows.split_first()?;
    let shaped = values.len() >= 2
        && header.len() >= 2
        && header.iter().all(|(th, _)| *th)
        && header.iter().filter(|(_, c)| is_label(c)).count() >= 1
        && values.iter().all(|r| r.len() == header.len());
    if !shaped {
        return None;
    }
    Some(
        header
            .iter()
            .enumerate()
            .map(|(i, (_, label))| {
                let cells: Vec<&str> = values
                    .iter()
                    .filter_map(|r| r.get(i).map(|c| c.1.trim()))
                    .collect();
                ((*label).to_owned(), cells.join("<br>"))
            })
            .collect(),
    )
}

/// The two shapes read before issue 24.
fn simple_table_pairs(inner: &str) -> Option<Vec<(&str, &str)>> {
    // A nested table is content, not a label table.
    if inner.to_ascii_lowercase().contains("<table") {
        return None;
    }
    let rows = rows(inner);
    match rows.as_slice() {
        [header, values]
            if header.len() == values.len()
                && header.len() >= 2
                && header.iter().all(|(th, c)| *th && is_label(c)) =>
        {
            return Some(header.iter().zip(values).map(|(h, v)| (h.1, v.1)).collect());
        }
        _ => {}
    }
    let labelled = rows.iter().all(|r| r.len() == 2)
        && rows
            .iter()
            .any(|r| r.first().is_some_and(|c| is_label(c.1)));
    if labelled {
        return Some(
            rows.iter()
                .filter_map(|r| Some((r.first()?.1, r.get(1)?.1)))
                .collect(),
        );
    }
    None
}

/// `<dt>` then its `<dd>`s; several `<dd>`s for one term are joined.
fn list_pairs(inner: &str) -> Option<Vec<(&str, &str)>> {
    let mut items: Vec<(bool, usize, usize)> = Vec::new();
    let mut open: Option<(bool, usize)> = None;
    for tag in tags(inner, 0) {
        let is_item = matches!(tag.name.as_str(), "dt" | "dd");
        if is_item || (tag.name == "div" && !tag.closing) {
            if let Some((term, start)) = open.take() {
                items.push((term, start, tag.start));
            }
            if is_item && !tag.closing {
                open = Some((tag.name == "dt", tag.end));
            }
        }
    }
    if let Some((term, start)) = open {
        items.push((term, start, inner.len()));
    }
    let mut pairs: Vec<(&str, &str)> = Vec::new();
    let mut label: Option<&str> = None;
    for (term, start, end) in items {
        let html = inner.get(start..end).unwrap_or("");
        match (term, label) {
            (true, _) => label = Some(html),
            (false, Some(l)) => {
                pairs.push((l, html));
                label = None;
            }
            (false, None) => {}
        }
    }
    pairs.iter().any(|(l, _)| is_label(l)).then_some(pairs)
}

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::indexing_slicing)]
mod tests {
    use super::*;

    #[test]
    fn rewrites() {
        let cases: &[(&str, &str)] = &[
            (
                "<table><tr><th>Component</th><td>auth</td></tr><tr><th>Versions</th><td>2.0</td></tr></table>",
                "<p>Component: auth</p><p>Versions: 2.0</p>",
            ),
            (
                "<TABLE><TR><TD><b>Typ</b><TD>XSS</TABLE>x",
                "<p><b>Typ</b>: XSS</p>x",
            ),
            (
                "<table><tr><th>Produkt</th><th>Version</th></tr><tr><td>foo</td><td>1.2</td></tr></table>",
                "<p>Produkt: foo</p><p>Version: 1.2</p>",
            ),
            (
                "<dl><dt>Impact</dt><dd><p>All data.</p></dd><dt>Fix</dt><dd>Escape</dd></dl>",
                "<h3>Impact</h3><div><p>All data.</p></div><p>Fix: Escape</p>",
            ),
            (
                "<table><tr><td>a</td><td>b</td></tr></table>",
                "<table><tr><td>a</td><td>b</td></tr></table>",
            ),
            ("<table><tr><th>Component", "<table><tr><th>Component"),
            ("no tables", "no tables"),
        ];
        for (html, want) in cases {
            assert_eq!(rewrite(html), *want, "html {html:?}");
        }
    }

    #[test]
    fn many_tables_are_linear() {
        let html = "<table><tr><td>x</td><td>y</td></tr>".repeat(20_000);
        let start = std::time::Instant::now();
        let _ = rewrite(&html);
        assert!(start.elapsed().as_secs() < 5);
    }
}
