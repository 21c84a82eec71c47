//! A small document model for the policy page and its two renderings, Markdown and
//! HTML. Text is text everywhere: what comes from the configuration or from a report
//! (a researcher's credit name) is escaped for each format, and the HTML has no
//! scripts, styles that load anything, or attributes from the text.

use std::fmt::Write as _;

/// A run of text.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Inline {
    Text(String),
    Strong(String),
    Code(String),
    /// A link to an https URL from the configuration.
    Link {
        text: String,
        url: String,
    },
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Block {
    /// A level-2 heading, with its anchor id.
    Heading {
        text: String,
        id: &'static str,
    },
    Para(Vec<Inline>),
    List(Vec<Vec<Inline>>),
    Table {
        head: Vec<String>,
        rows: Vec<Vec<String>>,
    },
}

/// A page: its title (the level-1 heading) and blocks.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Page {
    pub title: String,
    pub blocks: Vec<Block>,
}

/// One line of text, control characters made spaces: nothing from a value can start
/// a new Markdown block or break out of a table cell.
fn one_line(s: &str) -> String {
    crate::intake::one_line(s, 2000)
}

fn md_escape(s: &str) -> String {
    let mut out = String::new();
    for c in one_line(s).chars() {
        if matches!(
            c,
            '\\' | '`' | '*' | '_' | '[' | ']' | '<' | '>' | '#' | '|' | '!' | '&'
        ) {
            out.push('\\');
        }
        out.push(c);
    }
    out
}

fn md_code(s: &str) -> String {
    // A code span cannot hold its own backtick: none of ours (fingerprints) has one.
    format!("`{}`", one_line(s).replace('`', "'"))
}

fn md_inlines(inlines: &[Inline]) -> String {
    inlines
        .iter()
        .map(|i| match i {
            Inline::Text(t) => md_escape(t),
            Inline::Strong(t) => format!("**{}**", md_escape(t)),
            Inline::Code(t) => md_code(t),
            Inline::Link { text, url } if url.starts_with("https://") => format!(
                "[{}](<{}>)",
                md_escape(text),
                one_line(url).replace(['<', '>'], "")
            ),
            Inline::Link { text, .. } => md_escape(text),
        })
        .collect()
}

pub(crate) fn markdown(page: &Page) -> String {
    let mut t = String::new();
    let _ = writeln!(t, "# {}\n", md_escape(&page.title));
    for block in &page.blocks {
        match block {
            Block::Heading { text, .. } => {
                let _ = writeln!(t, "## {}\n", md_escape(text));
            }
            Block::Para(inlines) => {
                let _ = writeln!(t, "{}\n", md_inlines(inlines));
            }
            Block::List(items) => {
                for item in items {
                    let _ = writeln!(t, "- {}", md_inlines(item));
                }
                t.push('\n');
            }
            Block::Table { head, rows } => {
                let cells = |r: &[String]| {
                    r.iter()
                        .map(|c| md_escape(c))
                        .collect::<Vec<_>>()
                        .join(" | ")
                };
                let _ = writeln!(t, "| {} |", cells(head));
                let _ = writeln!(t, "|{}", " --- |".repeat(head.len()));
                for row in rows {
                    let _ = writeln!(t, "| {} |", cells(row));
                }
                t.push('\n');
            }
        }
    }
    // One newline at the end.
    let trimmed = t.trim_end().len();
    t.truncate(trimmed);
    t.push('\n');
    t
}

fn html_escape(s: &str) -> String {
    let mut out = String::new();
    for c in s.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&#39;"),
            c if c.is_control() => out.push(' '),
            c => out.push(c),
        }
    }
    out
}

fn html_inlines(inlines: &[Inline]) -> String {
    inlines
        .iter()
        .map(|i| match i {
            Inline::Text(t) => html_escape(t),
            Inline::Strong(t) => format!("<strong>{}</strong>", html_escape(t)),
            Inline::Code(t) => format!("<code>{}</code>", html_escape(t)),
            // Only https URLs reach a link (the configuration checks them); anything
            // else is shown as text.
            Inline::Link { text, url } if url.starts_with("https://") => {
                format!("<a href=\"{}\">{}</a>", html_escape(url), html_escape(text))
            }
            Inline::Link { text, .. } => html_escape(text),
        })
        .collect()
}

pub(crate) fn html(page: &Page, lang: &str) -> String {
    let mut t = String::new();
    let _ = writeln!(t, "<!DOCTYPE html>");
    let _ = writeln!(t, "<html lang=\"{}\">", html_escape(lang));
    let _ = writeln!(t, "<head>");
    let _ = writeln!(t, "<meta charset=\"utf-8\">");
    // No script may run here, even one an escaping mistake let in.
    let _ = writeln!(
        t,
        "<meta http-equiv=\"Content-Security-Policy\" content=\"default-src 'none'; style-src 'unsafe-inline'\">"
    );
    let _ = writeln!(
        t,
        "<meta name=\"viewport\" content=\"width=device-width, initial-scale=1\">"
    );
    let _ = writeln!(t, "<title>{}</title>", html_escape(&page.title));
    let _ = writeln!(
        t,
        "<style>body{{max-width:46em;margin:2em auto;padding:0 1em;font-family:sans-serif;line-height:1.5}}table{{border-collapse:collapse}}td,th{{border:1px solid #999;padding:.2em .6em;text-align:left}}code{{word-break:break-all}}</style>"
    );
    let _ = writeln!(t, "</head>\n<body>");
    let _ = writeln!(t, "<h1>{}</h1>", html_escape(&page.title));
    for block in &page.blocks {
        match block {
            Block::Heading { text, id } => {
                let _ = writeln!(t, "<h2 id=\"{id}\">{}</h2>", html_escape(text));
            }
            Block::Para(inlines) => {
                let _ = writeln!(t, "<p>{}</p>", html_inlines(inlines));
            }
            Block::List(items) => {
                let _ = writeln!(t, "<ul>");
                for item in items {
                    let _ = writeln!(t, "<li>{}</li>", html_inlines(item));
                }
                let _ = writeln!(t, "</ul>");
            }
            Block::Table { head, rows } => {
                let _ = writeln!(t, "<table>");
                let row = |tag: &str, cells: &[String]| {
                    let cells: String = cells
                        .iter()
                        .map(|c| format!("<{tag}>{}</{tag}>", html_escape(c)))
                        .collect();
                    format!("<tr>{cells}</tr>")
                };
                let _ = writeln!(t, "<thead>{}</thead>", row("th", head));
                let _ = writeln!(t, "<tbody>");
                for r in rows {
                    let _ = writeln!(t, "{}", row("td", r));
                }
                let _ = writeln!(t, "</tbody>\n</table>");
            }
        }
    }
    let _ = writeln!(t, "</body>\n</html>");
    t
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    fn hostile_page() -> Page {
        let evil = "<script>alert(1)</script> **x** [l](javascript:alert(1))\n# H";
        Page {
            title: "T".into(),
            blocks: vec![
                Block::Heading {
                    text: evil.into(),
                    id: "h",
                },
                Block::Para(vec![
                    Inline::Text(evil.into()),
                    Inline::Link {
                        text: evil.into(),
                        url: "javascript:alert(1)".into(),
                    },
                ]),
                Block::List(vec![vec![Inline::Strong(evil.into())]]),
                Block::Table {
                    head: vec!["a".into()],
                    rows: vec![vec![evil.into()]],
                },
            ],
        }
    }

    #[test]
    fn html_escapes_everything_and_runs_nothing() {
        let h = html(&hostile_page(), "en");
        assert!(!h.contains("<script"), "{h}");
        assert!(!h.contains("href=\"javascript"), "{h}");
        assert!(!h.contains("<a "), "{h}");
        assert!(h.contains("&lt;script&gt;"), "{h}");
        assert!(h.contains("default-src 'none'"));
    }

    #[test]
    fn markdown_escapes_markup_and_keeps_one_line() {
        let m = markdown(&hostile_page());
        assert!(!m.contains("<script>"), "{m}");
        assert!(!m.contains("\n# H"), "{m}");
        assert!(m.contains("\\<script\\>"), "{m}");
        assert!(m.contains("\\*\\*x\\*\\*"), "{m}");
    }
}
