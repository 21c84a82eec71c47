//! Section parser: walks cleaned lines once, recognising labelled sections in whatever shape the
//! reporter used (Key: value lines, Markdown ATX/setext/bold headings, numbered sections, bare
//! label lines) and routing every other line to the current section or to the "loose" text.

use super::labels::{self, is_short};
use super::text::{Line, indent_width, prefix};
use super::{FieldName, Fields, prose, scoring};

/// Lines longer than this are never a bare label; keeps label lookups cheap on huge lines.
const HEAD_BYTES: usize = 256;

/// How far a section's body extends.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Mode {
    /// Until the next recognised heading or key line.
    UntilHeading,
    /// "Key:" with nothing after it, for a short field: the first block of lines.
    FirstBlock { started: bool },
    /// "Key: value" for a short field: the value, plus indented (folded) continuation lines.
    Folded,
    /// "To reproduce:" followed by a numbered list: ends with the list, so that the prose after
    /// it ("Thanks, Jane") is not taken for a step.
    List { saw_item: bool, after_blank: bool },
}

#[derive(Debug)]
pub(crate) struct Section<'a> {
    pub(crate) field: FieldName,
    /// The whole line that opened the section (CVSS vectors may sit in the key position).
    pub(crate) opener: &'a str,
    pub(crate) inline: &'a str,
    pub(crate) body: Vec<&'a str>,
    mode: Mode,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Bucket {
    /// Text outside any section: preamble, text after a short key, text under the title heading.
    Loose,
    /// Text under an unrecognised heading (the heading line itself included).
    Unknown,
}

#[derive(Debug, Default)]
pub(crate) struct Parsed<'a> {
    pub(crate) sections: Vec<Section<'a>>,
    pub(crate) other: Vec<(&'a str, Bucket)>,
    pub(crate) heading_title: Option<String>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Target {
    Other(Bucket),
    Section(usize),
}

/// What a single line is, structurally.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Kind<'a> {
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
fn split_label(text: &str) -> Option<(FieldName, Option<&str>)> {
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
            .is_some_and(|c| c.is_alphanumeric() || "*_(".contains(c))
        && k.chars()
            .all(|c| c.is_alphanumeric() || " *_-/().'&#\t".contains(c))
}

/// Splits a list marker ("1.", "2)", "(3)", "-", "*", "+", "•") off a line.
fn strip_list_marker(t: &str) -> Option<(&str, bool)> {
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

fn heading_shaped(text: &str) -> bool {
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

fn classify(line: &str) -> Kind<'_> {
    if line.trim().is_empty() {
        return Kind::Blank;
    }
    if indent_width(line) > 3 {
        return Kind::Text;
    }
    let t = line.trim();

    if let Some((level, text)) = atx(t) {
        if text.is_empty() {
            return Kind::Text;
        }
        let text = labels::strip_numbering(text);
        if let Some((field, inline)) = split_label(text) {
            // "## Component: auth.php" behaves like a key line, "## Impact" like a heading.
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
        return Kind::Unknown { text, level };
    }

    if let Some((rest, numbered)) = strip_list_marker(t) {
        return match split_label(rest) {
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
        };
    }

    if let Some((field, inline)) = split_label(t) {
        let bold = t.starts_with("**") || t.starts_with("__");
        return match inline {
            Some(v) => Kind::Label {
                field,
                inline: Some(v),
                heading: false,
                listed: false,
            },
            // A bare label line ("Description") is only trusted for section-like fields or
            // multi-word labels; "Version" alone on a line is too likely to be prose.
            None if bold || !is_short(field) || t.contains(' ') => Kind::Label {
                field,
                inline: None,
                heading: true,
                listed: false,
            },
            None => Kind::Text,
        };
    }

    // A standalone bold line ("**References**") is a heading when it looks like one.
    for mark in ["**", "__"] {
        if let Some(inner) = t.strip_prefix(mark).and_then(|r| r.strip_suffix(mark))
            && !inner.contains(mark)
            && inner.chars().count() <= 60
            && heading_shaped(inner)
        {
            return Kind::Unknown {
                text: inner.trim(),
                level: 3,
            };
        }
    }
    Kind::Text
}

fn setext_level(line: &Line<'_>) -> Option<usize> {
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

struct Parser<'a> {
    out: Parsed<'a>,
    target: Target,
    /// Where text goes once a short key's value ends: back into the long section the key
    /// interrupted ("Version: 2.3" inside a description), or to the loose text.
    resume: Target,
    seen_known: bool,
}

impl<'a> Parser<'a> {
    fn push_other(&mut self, text: &'a str, bucket: Bucket) {
        self.out.other.push((text, bucket));
    }

    fn current_field(&self) -> Option<FieldName> {
        match self.target {
            Target::Section(i) => self.out.sections.get(i).map(|s| s.field),
            Target::Other(_) => None,
        }
    }

    fn content(&mut self, line: &Line<'a>) {
        let blank = line.is_blank();
        let idx = match self.target {
            Target::Other(bucket) => return self.push_other(line.text, bucket),
            Target::Section(idx) => idx,
        };
        let Some(section) = self.out.sections.get_mut(idx) else {
            self.target = Target::Other(Bucket::Loose);
            return self.push_other(line.text, Bucket::Loose);
        };
        let ends = match section.mode {
            Mode::UntilHeading => {
                section.body.push(line.text);
                false
            }
            Mode::FirstBlock { started } => {
                if blank {
                    started
                } else {
                    section.mode = Mode::FirstBlock { started: true };
                    section.body.push(line.text);
                    false
                }
            }
            Mode::Folded => {
                if !blank && !line.code && line.text.starts_with([' ', '\t']) {
                    section.body.push(line.text);
                    false
                } else {
                    true
                }
            }
            Mode::List {
                saw_item,
                after_blank,
            } => {
                let item = !line.code && prose::is_list_item(line.text);
                let continuation = line.code || indent_width(line.text) >= 2;
                if blank {
                    section.body.push(line.text);
                    section.mode = Mode::List {
                        saw_item,
                        after_blank: true,
                    };
                    false
                } else if saw_item && after_blank && !item && !continuation {
                    true
                } else {
                    section.body.push(line.text);
                    section.mode = Mode::List {
                        saw_item: saw_item || item,
                        after_blank: false,
                    };
                    false
                }
            }
        };
        if ends {
            // `resume` never points at a short section, so this recursion is one level deep.
            self.target = self.resume;
            self.resume = Target::Other(Bucket::Loose);
            self.content(line);
        }
    }

    fn open(&mut self, field: FieldName, opener: &'a str, inline: Option<&'a str>, heading: bool) {
        let inline = inline.unwrap_or("");
        let mode = if field == FieldName::StepsToReproduce && !heading && inline.is_empty() {
            Mode::List {
                saw_item: false,
                after_blank: false,
            }
        } else if !is_short(field) || heading {
            Mode::UntilHeading
        } else if inline.is_empty() {
            Mode::FirstBlock { started: false }
        } else {
            Mode::Folded
        };
        self.resume = match (mode, self.target) {
            (Mode::UntilHeading | Mode::List { .. }, _) => Target::Other(Bucket::Loose),
            (_, Target::Section(i))
                if self.out.sections.get(i).is_some_and(|s| !is_short(s.field)) =>
            {
                Target::Section(i)
            }
            (_, Target::Section(_)) => self.resume,
            (_, other) => other,
        };
        self.out.sections.push(Section {
            field,
            opener,
            inline,
            body: Vec::new(),
            mode,
        });
        self.target = Target::Section(self.out.sections.len() - 1);
        self.seen_known = true;
    }

    fn unknown_heading(&mut self, line: &'a str, text: &'a str, level: usize) {
        self.resume = Target::Other(Bucket::Loose);
        let title_candidate = level == 1
            && !self.seen_known
            && self.out.heading_title.is_none()
            && !labels::is_generic_heading(text);
        if title_candidate {
            self.out.heading_title = Some(text.to_owned());
            self.target = Target::Other(Bucket::Loose);
        } else {
            self.target = Target::Other(Bucket::Unknown);
            self.push_other(line, Bucket::Unknown);
        }
    }
}

/// One pass over the lines; never looks more than one line ahead or behind.
pub(crate) fn parse<'a>(lines: &[Line<'a>]) -> Parsed<'a> {
    let mut p = Parser {
        out: Parsed::default(),
        target: Target::Other(Bucket::Loose),
        resume: Target::Other(Bucket::Loose),
        seen_known: false,
    };
    let mut prev_blank = true;
    let mut skip_next = false;
    for (i, line) in lines.iter().enumerate() {
        if skip_next {
            skip_next = false;
            prev_blank = false;
            continue;
        }
        if line.code {
            p.content(line);
            prev_blank = false;
            continue;
        }
        let in_steps = matches!(
            p.current_field(),
            Some(FieldName::StepsToReproduce | FieldName::ProofOfConcept)
        );

        // Setext headings: a one-line paragraph underlined with === or ---.
        if prev_blank
            && !line.is_blank()
            && indent_width(line.text) <= 3
            && let Some(level) = lines.get(i + 1).and_then(setext_level)
        {
            let t = line.text.trim();
            if strip_list_marker(t).is_none() {
                if let Some((field, inline)) = split_label(t) {
                    skip_next = true;
                    let inline = inline.filter(|v| !v.is_empty());
                    p.open(field, line.text, inline, inline.is_none());
                    continue;
                }
                if heading_shaped(t) {
                    skip_next = true;
                    p.unknown_heading(line.text, t, level);
                    continue;
                }
            }
        }

        match classify(line.text) {
            Kind::Blank => {
                p.content(line);
                prev_blank = true;
                continue;
            }
            Kind::Text => p.content(line),
            Kind::Label {
                field,
                inline,
                heading,
                listed,
            } => {
                let ctx = Context {
                    in_steps,
                    under_unknown: p.target == Target::Other(Bucket::Unknown),
                    prev_blank,
                };
                if stays_content(&ctx, field, inline, heading, listed, line.text) {
                    p.content(line);
                } else {
                    p.open(field, line.text, inline, heading);
                }
            }
            Kind::Unknown { text, level } => {
                // Bold-only lines mid-paragraph are emphasis, not headings.
                if level == 3 && !prev_blank {
                    p.content(line);
                } else {
                    p.unknown_heading(line.text, text, level);
                }
            }
        }
        prev_blank = false;
    }
    p.out
}

struct Context {
    in_steps: bool,
    under_unknown: bool,
    prev_blank: bool,
}

/// Label-looking lines that are nevertheless content, given where they appear.
fn stays_content(
    ctx: &Context,
    field: FieldName,
    inline: Option<&str>,
    heading: bool,
    listed: bool,
    line: &str,
) -> bool {
    // "- Impact: ..." in a list under "## References" is that list's content; metadata bullets
    // such as "- Severity: High" are still read.
    if ctx.under_unknown && listed && inline.is_some() && !is_short(field) {
        return true;
    }
    if ctx.in_steps && listed {
        // Inside steps, "2. Description: type <script>" is a step, and "4. Exploit" is a step
        // using the steps' own vocabulary; "4. Proof of concept" still starts a new section.
        if inline.is_some() {
            return true;
        }
        let own_vocabulary = matches!(
            field,
            FieldName::StepsToReproduce | FieldName::ProofOfConcept
        );
        let multiword = labels::strip_numbering(line.trim()).trim().contains(' ');
        if own_vocabulary && !multiword {
            return true;
        }
    }
    // Bare label lines in running prose need a paragraph break before them, unless marked up.
    let marked = line.trim_start().starts_with(['*', '_', '#']);
    heading && !listed && inline.is_none() && !ctx.prev_blank && !marked
}

fn join_section(section: &Section<'_>) -> String {
    let mut s = String::new();
    if !section.inline.is_empty() {
        s.push_str(section.inline);
        s.push('\n');
    }
    for line in &section.body {
        s.push_str(line);
        s.push('\n');
    }
    trim_block(&s)
}

/// Drops leading and trailing blank lines and trailing whitespace but keeps the first line's
/// indentation, which matters for code.
pub(crate) fn trim_block(s: &str) -> String {
    let all: Vec<&str> = s.lines().map(str::trim_end).collect();
    let first = all
        .iter()
        .position(|l| !l.trim().is_empty())
        .unwrap_or(all.len());
    let lines = all.get(first..).unwrap_or_default();
    // Collapse runs of blank lines so that removed quotes and armour leave no gaps.
    let mut out = String::with_capacity(s.len());
    let mut blank_run = 0;
    for line in lines.iter().copied() {
        if line.trim().is_empty() {
            blank_run += 1;
            if blank_run > 1 {
                continue;
            }
        } else {
            blank_run = 0;
        }
        out.push_str(line);
        out.push('\n');
    }
    out.truncate(out.trim_end().len());
    out
}

/// Short values lose wrapping Markdown emphasis: "**High**" and "`auth/login.php`".
fn clean_short(s: &str) -> String {
    let mut t = s.trim();
    for mark in ["**", "__", "`", "*", "_"] {
        if t.len() >= 2 * mark.len()
            && let Some(inner) = t.strip_prefix(mark).and_then(|r| r.strip_suffix(mark))
            && !inner.contains(mark)
        {
            t = inner.trim();
        }
    }
    t.to_owned()
}

fn non_empty(s: String) -> Option<String> {
    if s.trim().is_empty() { None } else { Some(s) }
}

/// First paragraph, joined into one line: titles wrap, but they are one sentence.
fn first_paragraph(s: &str) -> (String, String) {
    let mut title_lines = Vec::new();
    let mut rest = Vec::new();
    let mut in_title = true;
    for line in s.lines() {
        if in_title && line.trim().is_empty() && !title_lines.is_empty() {
            in_title = false;
        }
        if in_title {
            if !line.trim().is_empty() {
                title_lines.push(line.trim());
            }
        } else {
            rest.push(line);
        }
    }
    (title_lines.join(" "), rest.join("\n"))
}

pub(crate) fn assemble(parsed: &Parsed<'_>, lines: &[Line<'_>]) -> Fields {
    let mut f = Fields::default();
    let mut extra_loose: Vec<String> = Vec::new();
    let mut long_sections = false;
    let mut cvss_text: Vec<String> = Vec::new();
    let mut severity_text: Vec<String> = Vec::new();

    for section in &parsed.sections {
        let value = join_section(section);
        match section.field {
            FieldName::Title => {
                // "Title: X" is exactly X; "## Title" is the first paragraph under it.
                let (title, rest) = if section.inline.is_empty() {
                    first_paragraph(&value)
                } else {
                    (section.inline.to_owned(), section.body.join("\n"))
                };
                let title = prose::clean_title(&clean_short(&title));
                if f.title.is_none() {
                    f.title = non_empty(title);
                }
                if !rest.trim().is_empty() {
                    extra_loose.push(rest);
                }
            }
            FieldName::CvssVector => {
                cvss_text.push(format!("{}\n{}", section.opener, value));
            }
            FieldName::Severity => severity_text.push(value),
            field if is_short(field) => {
                let slot = match field {
                    FieldName::VulnerabilityType => &mut f.vulnerability_type,
                    FieldName::AffectedComponent => &mut f.affected_component,
                    FieldName::AffectedVersions => &mut f.affected_versions,
                    FieldName::CreditName => &mut f.credit_name,
                    _ => &mut f.contact,
                };
                if slot.is_none() {
                    *slot = non_empty(clean_short(&value));
                }
            }
            field => {
                long_sections = true;
                let slot = match field {
                    FieldName::Description => &mut f.description,
                    FieldName::StepsToReproduce => &mut f.steps_to_reproduce,
                    FieldName::ProofOfConcept => &mut f.proof_of_concept,
                    FieldName::Impact => &mut f.impact,
                    _ => &mut f.suggested_fix,
                };
                if value.trim().is_empty() {
                    continue;
                }
                match slot {
                    Some(existing) => {
                        existing.push_str("\n\n");
                        existing.push_str(&value);
                    }
                    None => *slot = Some(value),
                }
            }
        }
    }

    if f.title.is_none()
        && let Some(t) = &parsed.heading_title
    {
        f.title = non_empty(prose::clean_title(&clean_short(t)));
    }

    if f.description.is_none() {
        // With real sections present, only loose text (e.g. a preamble) can be the description;
        // with none, the report is prose and everything that is not a short key is.
        let mut text = String::new();
        for (line, bucket) in &parsed.other {
            if *bucket == Bucket::Loose || !long_sections {
                text.push_str(line);
                text.push('\n');
            }
        }
        for rest in &extra_loose {
            text.push_str(rest);
            text.push('\n');
        }
        f.description = non_empty(trim_block(&text));
    }

    f.cvss = cvss_text
        .iter()
        .find_map(|t| scoring::find_cvss(t))
        .or_else(|| {
            let all: Vec<&str> = lines.iter().map(|l| l.text).collect();
            scoring::find_cvss(&all.join("\n"))
        });

    f.stated_severity = severity_text
        .iter()
        .find_map(|t| prose::severity_from_value(t))
        .or_else(|| {
            // "CVSS score: 8.1" without a usable vector still states a severity.
            if f.cvss.is_some() {
                return None;
            }
            cvss_text
                .iter()
                .find_map(|t| prose::severity_from_number(t))
        });
    f
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
            ("Version", "text"),
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
            ("Titel：X", "text"),
            ("Title：全角", "title=全角"),
        ];
        for (line, want) in cases {
            assert_eq!(kind_name(line), *want, "line {line:?}");
        }
    }

    #[test]
    fn trim_block_keeps_first_indent_and_collapses_blanks() {
        assert_eq!(trim_block("\n\n    code\n\n\n\nx  \n\n"), "    code\n\nx");
    }

    #[test]
    fn clean_short_strips_wrapping_markup() {
        assert_eq!(clean_short("**High**"), "High");
        assert_eq!(clean_short("`auth/login.php`"), "auth/login.php");
        assert_eq!(clean_short("a `b` c"), "a `b` c");
    }
}
