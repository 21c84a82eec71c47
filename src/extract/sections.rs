//! Section parser: walks cleaned lines once, recognising labelled sections in whatever shape the
//! reporter used (Key: value lines, Markdown ATX/setext/bold headings, numbered sections, bare
//! label lines) and routing every other line to the current section or to the "loose" text.
//!
//! Lines are classified by [`super::classify`]; fields are assembled from the sections by
//! [`super::assemble`].

use super::classify::{
    Kind, classify, heading_shaped, setext_level, split_label, strip_list_marker,
};
use super::fields::FieldName;
use super::labels::{self, is_short};
use super::prose;
use super::text::{Line, indent_width};

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
    /// "## Affected versions" (a heading for a short field): its first block, continued
    /// after a blank line only by list items or indented lines, so that the paragraph
    /// after the value is not part of it.
    Block { started: bool, after_blank: bool },
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
    /// The first unrecognised heading of any level that is not document furniture: the
    /// title when the mail's Subject names no report.
    pub(crate) first_heading: Option<String>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Target {
    Other(Bucket),
    Section(usize),
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
                // "Recursos afectados:\nLas versiones anteriores a:\n\n  • Pinar 88.0.1": a
                // value line ending in a colon announces the list after the blank line.
                let announces = section
                    .body
                    .last()
                    .is_some_and(|l| l.trim_end().ends_with([':', '：']));
                if blank && started && announces {
                    section.body.push(line.text);
                    section.mode = Mode::Block {
                        started,
                        after_blank: true,
                    };
                    false
                } else if blank {
                    started
                } else {
                    section.mode = Mode::FirstBlock { started: true };
                    section.body.push(line.text);
                    false
                }
            }
            Mode::Folded => {
                // In a right-aligned header block ("   homepage: https://…") the next
                // key ends the value even when no field of ours is named by it.
                if !blank
                    && !line.code
                    && line.text.starts_with([' ', '\t'])
                    && !header_key(line.text)
                {
                    section.body.push(line.text);
                    false
                } else {
                    true
                }
            }
            Mode::Block {
                started,
                after_blank,
            } => {
                if blank {
                    if started {
                        section.body.push(line.text);
                        section.mode = Mode::Block {
                            started,
                            after_blank: true,
                        };
                    }
                    false
                } else if started && after_blank {
                    let continues = line.code
                        || indent_width(line.text) >= 2
                        || strip_list_marker(line.text.trim()).is_some();
                    if continues {
                        section.body.push(line.text);
                        section.mode = Mode::Block {
                            started,
                            after_blank: false,
                        };
                    }
                    !continues
                } else {
                    section.body.push(line.text);
                    section.mode = Mode::Block {
                        started: true,
                        after_blank: false,
                    };
                    false
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
        } else if !is_short(field) || (heading && field == FieldName::Title) {
            Mode::UntilHeading
        } else if heading {
            Mode::Block {
                started: false,
                after_blank: false,
            }
        } else if inline.is_empty() {
            Mode::FirstBlock { started: false }
        } else {
            Mode::Folded
        };
        self.resume = match (mode, self.target) {
            (Mode::UntilHeading | Mode::List { .. } | Mode::Block { .. }, _) => {
                Target::Other(Bucket::Loose)
            }
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
        if self.out.first_heading.is_none() && !self.seen_known && !labels::is_generic_heading(text)
        {
            self.out.first_heading = Some(text.to_owned());
        }
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

    /// Setext headings: a one-line paragraph underlined with === or ---. True when `line`
    /// opened one (the underline is then skipped).
    fn setext(&mut self, line: &Line<'a>, next: Option<&Line<'_>>) -> bool {
        let Some(level) = next.and_then(setext_level) else {
            return false;
        };
        let t = line.text.trim();
        if line.is_blank() || indent_width(line.text) > 3 || strip_list_marker(t).is_some() {
            return false;
        }
        if let Some((field, inline)) = split_label(t) {
            let inline = inline.filter(|v| !v.is_empty());
            self.open(field, line.text, inline, inline.is_none());
            return true;
        }
        if heading_shaped(t) {
            self.unknown_heading(line.text, t, level);
            return true;
        }
        false
    }

    /// Routes one non-code line; returns whether it was blank.
    fn line(&mut self, line: &Line<'a>, prev_blank: bool) -> bool {
        let in_steps = matches!(
            self.current_field(),
            Some(FieldName::StepsToReproduce | FieldName::ProofOfConcept)
        );
        match classify(line.text) {
            Kind::Blank => {
                self.content(line);
                return true;
            }
            Kind::Text => self.content(line),
            Kind::Label {
                field,
                inline,
                heading,
                listed,
            } => {
                let ctx = Context {
                    in_steps,
                    under_unknown: self.target == Target::Other(Bucket::Unknown),
                    prev_blank,
                };
                if stays_content(&ctx, field, inline, heading, listed, line.text) {
                    self.content(line);
                } else {
                    self.open(field, line.text, inline, heading);
                }
            }
            Kind::Unknown { text, level } => {
                // Bold-only lines mid-paragraph are emphasis, not headings.
                if level == 3 && !prev_blank {
                    self.content(line);
                } else {
                    self.unknown_heading(line.text, text, level);
                }
            }
        }
        false
    }
}

/// "      homepage: https://…": a lower-case key of letters and spaces, a colon, a value.
fn header_key(line: &str) -> bool {
    let t = line.trim_start();
    let Some((key, value)) = t.split_once(':') else {
        return false;
    };
    !key.is_empty()
        && key.len() <= 32
        && key.starts_with(|c: char| c.is_lowercase())
        && key.chars().all(|c| c.is_alphabetic() || c == ' ')
        && value.starts_with(' ')
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
        if prev_blank && p.setext(line, lines.get(i + 1)) {
            skip_next = true;
            continue;
        }
        prev_blank = p.line(line, prev_blank);
    }
    p.out
}

/// "Versão: 1.0" in a bulletin's header is the document's version when another label names
/// the affected versions ("Software afetado:"): a key that is only the word "version" gives
/// way to a label that says what is affected.
pub(crate) fn prefer_named_versions(parsed: &mut Parsed<'_>) {
    let bare =
        |s: &Section<'_>| s.field == FieldName::AffectedVersions && bare_version_key(s.opener);
    let named = parsed
        .sections
        .iter()
        .any(|s| s.field == FieldName::AffectedVersions && !bare(s));
    if named {
        parsed.sections.retain(|s| !bare(s));
    }
}

/// Whether a key line's key is the word "version" alone, in any of the languages.
fn bare_version_key(opener: &str) -> bool {
    const BARE: &[&str] = &[
        "version",
        "versão",
        "versión",
        "versione",
        "versie",
        "wersja",
        "версия",
        "версія",
        "バージョン",
        "버전",
        "版本",
    ];
    let key = opener
        .split([':', '：'])
        .next()
        .unwrap_or("")
        .trim()
        .trim_matches(['*', '_', '#', ' '])
        .to_lowercase();
    BARE.contains(&key.as_str())
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
