//! HTML bodies to plain text. Rendering is html2text's (no scripts run, nothing is fetched);
//! inputs it handles badly (very deep nesting costs it quadratic time) or that make it fail are
//! reduced by a small linear tag stripper instead.

use std::collections::HashMap;
use std::panic::{AssertUnwindSafe, catch_unwind};
use std::sync::LazyLock;

use regex::Regex;

use super::text::{compile, normalise};

/// Lines wrap only past this width, so labels are never split from their values by wrapping.
const RENDER_WIDTH: usize = 1000;
/// Bodies larger than this skip html2text; mail this large is not a hand-written report.
const MAX_RENDER_BYTES: usize = 4 * 1024 * 1024;
/// html2text's cost grows quadratically with element nesting; deeper documents are stripped.
const MAX_RENDER_DEPTH: usize = 256;

/// An HTML body (its label tables already rewritten, see [`super::html_to_text`]) as
/// plain text. Headings come out as `# ...`, lists as `* ...`/`1. ...`, quotes as
/// `> ...`, links as `[text](url)`. Never fails: on any renderer error the tags are
/// stripped instead.
pub(crate) fn to_text(html: &str) -> String {
    if html.len() <= MAX_RENDER_BYTES
        && nesting_depth(html) <= MAX_RENDER_DEPTH
        && let Some(text) = render(html)
    {
        return text;
    }
    strip_tags(html)
}

fn render(html: &str) -> Option<String> {
    let rendered = catch_unwind(AssertUnwindSafe(|| {
        html2text::config::plain()
            .allow_width_overflow()
            .string_from_read(html.as_bytes(), RENDER_WIDTH)
    }))
    .ok()?
    .ok()?;
    Some(inline_footnotes(&normalise(&rendered)))
}

static FOOTNOTE_DEF: LazyLock<Option<Regex>> =
    LazyLock::new(|| compile(r"^\[(\d{1,6})\]: (\S.*)$"));
static FOOTNOTE_REF: LazyLock<Option<Regex>> = LazyLock::new(|| compile(r"\]\[(\d{1,6})\]"));

/// html2text lists link targets as footnotes at the very end, where they would be read as part
/// of the last section; put each URL back next to its link text instead.
fn inline_footnotes(text: &str) -> String {
    let (Some(def), Some(reference)) = (&*FOOTNOTE_DEF, &*FOOTNOTE_REF) else {
        return text.trim_end().to_owned();
    };
    let lines: Vec<&str> = text.trim_end().lines().collect();
    let mut urls = HashMap::new();
    let mut body_end = lines.len();
    for (i, line) in lines.iter().enumerate().rev() {
        let Some(caps) = def.captures(line) else {
            break;
        };
        if let (Some(n), Some(url)) = (caps.get(1), caps.get(2)) {
            urls.insert(n.as_str().to_owned(), url.as_str().trim().to_owned());
        }
        body_end = i;
    }
    if urls.is_empty() {
        return text.trim_end().to_owned();
    }
    let body = lines.get(..body_end).unwrap_or_default().join("\n");
    reference
        .replace_all(&body, |caps: &regex::Captures<'_>| {
            match caps.get(1).and_then(|n| urls.get(n.as_str())) {
                Some(url) => format!("]({url})"),
                None => caps.get(0).map(|m| m.as_str()).unwrap_or("").to_owned(),
            }
        })
        .trim_end()
        .to_owned()
}

/// Elements whose end tag is optional: html5ever closes them implicitly, so they do not nest.
const IMPLICITLY_CLOSED: &[&str] = &[
    "p", "li", "dt", "dd", "tr", "td", "th", "option", "optgroup", "thead", "tbody", "tfoot",
    "colgroup", "caption", "rb", "rt", "rp", "html", "head", "body",
];
const VOID: &[&str] = &[
    "area", "base", "br", "col", "embed", "hr", "img", "input", "link", "meta", "source", "track",
    "wbr", "param", "keygen",
];

/// Tag name (lowercased) and whether it is a closing tag, for a slice starting at `<`.
pub(crate) fn tag_name(tag: &str) -> (String, bool) {
    let inner = tag.get(1..).unwrap_or("");
    let (closing, inner) = match inner.strip_prefix('/') {
        Some(rest) => (true, rest),
        None => (false, inner),
    };
    let name: String = inner
        .chars()
        .take_while(|c| c.is_ascii_alphanumeric())
        .take(16)
        .collect();
    (name.to_ascii_lowercase(), closing)
}

/// Byte length of the tag starting at `<` in `s`, through its `>`, honouring quoted attribute
/// values; the rest of the input if unterminated.
pub(crate) fn tag_len(s: &str) -> usize {
    let mut quote: Option<char> = None;
    for (i, c) in s.char_indices() {
        match (quote, c) {
            (Some(q), c) if c == q => quote = None,
            (Some(_), _) => {}
            (None, '"' | '\'') if i > 0 => quote = Some(c),
            (None, '>') => return i + 1,
            _ => {}
        }
    }
    s.len()
}

/// Upper estimate of element nesting depth, in one pass.
fn nesting_depth(html: &str) -> usize {
    let mut depth: usize = 0;
    let mut max = 0;
    let mut rest = html;
    while let Some(lt) = rest.find('<') {
        let Some(tail) = rest.get(lt..) else { break };
        if let Some(after) = tail.strip_prefix("<!--") {
            rest = after
                .find("-->")
                .and_then(|e| after.get(e + 3..))
                .unwrap_or("");
            continue;
        }
        let len = tag_len(tail);
        let tag = tail.get(..len).unwrap_or(tail);
        let (name, closing) = tag_name(tag);
        let counted = !name.is_empty()
            && !VOID.contains(&name.as_str())
            && !IMPLICITLY_CLOSED.contains(&name.as_str());
        if counted && closing {
            depth = depth.saturating_sub(1);
        } else if counted && !tag.ends_with("/>") {
            depth += 1;
            max = max.max(depth);
        }
        rest = tail.get(len.max(1)..).unwrap_or("");
    }
    max
}

/// Finds `</name` case-insensitively; returns the offset of the `<`.
fn find_close(s: &str, name: &str) -> Option<usize> {
    let mut from = 0;
    while let Some(pos) = s.get(from..).and_then(|r| r.find("</")) {
        let at = from + pos;
        let candidate = s.get(at + 2..).unwrap_or("");
        if candidate
            .get(..name.len())
            .is_some_and(|c| c.eq_ignore_ascii_case(name))
        {
            return Some(at);
        }
        from = at + 2;
    }
    None
}

fn decode_entity(s: &str) -> (Option<char>, usize) {
    let body: String = s
        .chars()
        .skip(1)
        .take_while(|c| c.is_ascii_alphanumeric() || *c == '#')
        .take(12)
        .collect();
    if !s.get(1 + body.len()..).is_some_and(|r| r.starts_with(';')) {
        return (None, 0);
    }
    let c = match body.as_str() {
        "lt" => Some('<'),
        "gt" => Some('>'),
        "amp" => Some('&'),
        "quot" => Some('"'),
        "apos" => Some('\''),
        "nbsp" => Some(' '),
        b => {
            let num = b.strip_prefix('#');
            num.and_then(|n| match n.strip_prefix(['x', 'X']) {
                Some(hex) => u32::from_str_radix(hex, 16).ok(),
                None => n.parse::<u32>().ok(),
            })
            .and_then(char::from_u32)
            .filter(|c| !c.is_control() || *c == '\n' || *c == '\t')
        }
    };
    match c {
        Some(c) => (Some(c), body.len() + 2),
        None => (None, 0),
    }
}

/// Text emitted in place of a tag so that block structure survives stripping.
fn tag_replacement(name: &str, closing: bool) -> &'static str {
    match (name, closing) {
        ("h1", false) => "\n\n# ",
        ("h2", false) => "\n\n## ",
        ("h3", false) => "\n\n### ",
        ("h4" | "h5" | "h6", false) => "\n\n#### ",
        ("li", false) => "\n* ",
        ("br", _) => "\n",
        ("td" | "th", _) => " ",
        (
            "p" | "div" | "tr" | "table" | "ul" | "ol" | "blockquote" | "pre" | "section"
            | "article" | "header" | "footer" | "hr" | "dd" | "dt" | "h1" | "h2" | "h3" | "h4"
            | "h5" | "h6" | "li" | "title",
            _,
        ) => "\n",
        _ => "",
    }
}

/// Minimal linear tag stripper: drops tags, comments, scripts and styles, decodes the common
/// entities and keeps line structure. Only used when html2text cannot be.
pub(crate) fn strip_tags(html: &str) -> String {
    let mut out = String::with_capacity(html.len().min(MAX_RENDER_BYTES));
    let mut rest = html;
    while let Some(pos) = rest.find(['<', '&']) {
        out.push_str(rest.get(..pos).unwrap_or(""));
        let Some(tail) = rest.get(pos..) else { break };
        if tail.starts_with('&') {
            match decode_entity(tail) {
                (Some(c), used) => {
                    out.push(c);
                    rest = tail.get(used..).unwrap_or("");
                }
                (None, _) => {
                    out.push('&');
                    rest = tail.get(1..).unwrap_or("");
                }
            }
            continue;
        }
        if let Some(after) = tail.strip_prefix("<!--") {
            rest = after
                .find("-->")
                .and_then(|e| after.get(e + 3..))
                .unwrap_or("");
            continue;
        }
        let starts_tag = tail
            .get(1..)
            .and_then(|r| r.chars().next())
            .is_some_and(|c| c.is_ascii_alphabetic() || matches!(c, '/' | '!' | '?'));
        if !starts_tag {
            out.push('<');
            rest = tail.get(1..).unwrap_or("");
            continue;
        }
        let len = tag_len(tail);
        let (name, closing) = tag_name(tail.get(..len).unwrap_or(tail));
        rest = tail.get(len..).unwrap_or("");
        if !closing && matches!(name.as_str(), "script" | "style" | "template" | "noscript") {
            rest = match find_close(rest, &name) {
                Some(at) => {
                    let close = rest.get(at..).unwrap_or("");
                    close.get(tag_len(close)..).unwrap_or("")
                }
                None => "",
            };
            continue;
        }
        out.push_str(tag_replacement(&name, closing));
    }
    out.push_str(rest);

    let mut text = String::with_capacity(out.len());
    let mut blank_run = 0;
    for line in normalise(&out).lines() {
        let collapsed = line.split_whitespace().collect::<Vec<_>>().join(" ");
        if collapsed.is_empty() {
            blank_run += 1;
            if blank_run > 1 || text.is_empty() {
                continue;
            }
        } else {
            blank_run = 0;
        }
        text.push_str(&collapsed);
        text.push('\n');
    }
    text.trim_end().to_owned()
}

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::indexing_slicing)]
mod tests {
    use super::*;
    use crate::extract::html_to_text;

    #[test]
    fn renders_structure_and_inlines_links() {
        let html = r#"<html><head><style>p{color:red}</style><script>alert(1)</script></head><body>
<h1>SQL injection in login</h1><p><b>Severity:</b> High</p>
<p>See <a href="https://example.org/adv">the advisory</a>.</p>
<h2>Steps to Reproduce</h2><ol><li>Go to /login</li><li>Enter <code>' OR 1=1--</code></li></ol>
<blockquote>quoted</blockquote></body></html>"#;
        let text = html_to_text(html);
        assert!(text.contains("# SQL injection in login"), "{text}");
        assert!(text.contains("**Severity:** High"), "{text}");
        assert!(
            text.contains("[the advisory](https://example.org/adv)"),
            "{text}"
        );
        assert!(text.contains("## Steps to Reproduce"), "{text}");
        assert!(text.contains("1. Go to /login"), "{text}");
        assert!(text.contains("> quoted"), "{text}");
        assert!(!text.contains("alert"), "{text}");
        assert!(!text.contains("color:red"), "{text}");
        assert!(!text.lines().any(|l| l.starts_with("[1]:")), "{text}");
    }

    #[test]
    fn strip_tags_fallback() {
        let html = "<h2>Impact</h2><p>a &lt;b&gt; &amp; &#233;&#x20AC; &bogus; 1 < 2</p>\
                    <script type=\"x\">evil()</SCRIPT><!-- c --><div title=\"a>b\">x</div><br>y";
        assert_eq!(
            strip_tags(html),
            "## Impact\n\na <b> & é€ &bogus; 1 < 2\n\nx\n\ny"
        );
        assert_eq!(strip_tags("<script>never closed"), "");
        assert_eq!(strip_tags("<a href=\"unterminated"), "");
        assert_eq!(strip_tags(""), "");
        assert_eq!(strip_tags("&#0; &#xD800; &"), "&#0; &#xD800; &");
    }

    #[test]
    fn depth_estimate() {
        assert_eq!(nesting_depth("<div><div><p>x<p>y</div></div>"), 2);
        assert_eq!(nesting_depth("<br><img src=x><hr/>"), 0);
        assert_eq!(nesting_depth(&"<div>".repeat(1000)), 1000);
        assert_eq!(nesting_depth("<!-- <div><div> -->"), 0);
    }

    #[test]
    fn deep_nesting_falls_back_fast() {
        let html = format!(
            "{}<h2>Impact</h2>deep{}",
            "<div>".repeat(100_000),
            "</div>".repeat(10)
        );
        let start = std::time::Instant::now();
        let text = html_to_text(&html);
        assert!(start.elapsed().as_secs() < 5);
        assert_eq!(text, "## Impact\ndeep");
    }

    #[test]
    fn garbage_never_fails() {
        for html in [
            "",
            "<",
            "<<<>>>",
            "</",
            "<!--",
            "&",
            "&#",
            "<p",
            "\u{0}<b>\u{feff}x",
            "<x y='>",
        ] {
            let _ = html_to_text(html);
            let _ = strip_tags(html);
        }
        assert_eq!(html_to_text("<p>plain</p>"), "plain");
    }
}
