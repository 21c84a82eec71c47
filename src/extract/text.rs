//! Normalisation of raw report text into lines the section parser can trust: one newline
//! convention, no quoted reply material, no signature, no PGP clear-sign armour, and every line
//! tagged with whether it sits inside a fenced code block (code is never parsed for structure).
//! Also the small helpers every other extraction module shares: bounded prefixes and suffixes,
//! block trimming and pattern compilation.

use regex::Regex;

/// A report line after cleaning. `code` lines (including the fence markers themselves) are kept
/// verbatim as content and never treated as headings, keys or quotes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Line<'a> {
    pub(crate) text: &'a str,
    pub(crate) code: bool,
}

impl Line<'_> {
    pub(crate) fn is_blank(&self) -> bool {
        self.text.trim().is_empty()
    }
}

/// Owned normalised text; lines are borrowed from it on demand.
pub(crate) struct Cleaned {
    text: String,
}

impl Cleaned {
    pub(crate) fn lines(&self) -> Vec<Line<'_>> {
        let raw: Vec<&str> = self.text.split('\n').collect();
        let raw = unwrap_clearsigned(raw);
        let code = fence_mask(&raw);
        let tagged: Vec<Line<'_>> = raw
            .iter()
            .zip(code)
            .map(|(text, code)| Line { text, code })
            .collect();
        let tagged = drop_quotes(tagged);
        drop_valediction(drop_signature(tagged))
    }
}

pub(crate) fn clean(text: &str) -> Cleaned {
    Cleaned {
        text: normalise(text),
    }
}

/// One newline convention and no control characters: CR/CRLF would otherwise leak into values,
/// and NULs or escape sequences have no business in stored report fields.
pub(crate) fn normalise(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    let mut chars = text.chars().peekable();
    while let Some(c) = chars.next() {
        match c {
            '\r' => {
                if chars.peek() != Some(&'\n') {
                    out.push('\n');
                }
            }
            '\n' | '\t' => out.push(c),
            '\u{feff}' | '\u{200b}' => {}
            c if c.is_control() => {}
            c => out.push(c),
        }
    }
    out
}

/// Largest prefix of `s` no longer than `max` bytes that ends on a char boundary.
pub(crate) fn prefix(s: &str, max: usize) -> &str {
    if s.len() <= max {
        return s;
    }
    let mut end = max;
    while end > 0 && !s.is_char_boundary(end) {
        end -= 1;
    }
    s.get(..end).unwrap_or("")
}

/// Largest suffix of `s` no longer than `max` bytes that starts on a char boundary.
pub(crate) fn suffix(s: &str, max: usize) -> &str {
    if s.len() <= max {
        return s;
    }
    let mut start = s.len() - max;
    while start < s.len() && !s.is_char_boundary(start) {
        start += 1;
    }
    s.get(start..).unwrap_or("")
}

pub(crate) fn truncate_at_char_boundary(s: &mut String, max: usize) {
    if s.len() > max {
        let keep = prefix(s, max).len();
        s.truncate(keep);
    }
}

/// A pattern that fails to compile disables its heuristic instead of panicking; the unit tests
/// make sure every pattern compiles.
pub(crate) fn compile(pattern: &str) -> Option<Regex> {
    Regex::new(pattern).ok()
}

/// A lazily compiled pattern, `None` if it does not compile (see [`compile`]).
macro_rules! pattern {
    ($name:ident, $re:expr) => {
        static $name: std::sync::LazyLock<Option<regex::Regex>> =
            std::sync::LazyLock::new(|| $crate::extract::text::compile($re));
    };
}
pub(crate) use pattern;

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

/// Indentation width, counting a tab as four columns (the Markdown convention).
pub(crate) fn indent_width(line: &str) -> usize {
    let mut width = 0;
    for c in line.chars() {
        match c {
            ' ' => width += 1,
            '\t' => width += 4,
            _ => break,
        }
    }
    width
}

/// Removes PGP clear-signing armour (header, `Hash:` lines, signature block) and undoes dash
/// escaping. Nothing is verified here: verification belongs to the crypto layer, this only keeps
/// the armour from being mistaken for report content (`Hash: SHA512` looks like a key line).
fn unwrap_clearsigned(lines: Vec<&str>) -> Vec<&str> {
    let Some(start) = lines
        .iter()
        .position(|l| l.trim_end() == "-----BEGIN PGP SIGNED MESSAGE-----")
    else {
        return lines;
    };
    let mut out = Vec::with_capacity(lines.len());
    out.extend(lines.iter().take(start).copied());
    let mut iter = lines.iter().skip(start + 1).peekable();
    while let Some(l) = iter.peek() {
        if l.trim().is_empty() {
            iter.next();
            break;
        }
        if l.starts_with("Hash:") || l.starts_with("Charset:") {
            iter.next();
        } else {
            break;
        }
    }
    let mut in_signature = false;
    for l in iter {
        let t = l.trim_end();
        if in_signature {
            if t == "-----END PGP SIGNATURE-----" {
                in_signature = false;
            }
            continue;
        }
        if t == "-----BEGIN PGP SIGNATURE-----" {
            in_signature = true;
            continue;
        }
        out.push(l.strip_prefix("- ").unwrap_or(l));
    }
    out
}

#[derive(Clone, Copy)]
struct Fence {
    ch: char,
    len: usize,
}

/// Parses a line as a fence marker: returns the fence and whether it may close a block (only
/// fence characters and whitespace) and whether it may open one.
fn fence_of(line: &str) -> Option<(Fence, bool, bool)> {
    let t = line.trim_start();
    let ch = t.chars().next()?;
    if ch != '`' && ch != '~' {
        return None;
    }
    let len = t.chars().take_while(|c| *c == ch).count();
    if len < 3 {
        return None;
    }
    let rest = t.get(len * ch.len_utf8()..).unwrap_or("");
    let closes = rest.trim().is_empty();
    // A backtick "info string" containing backticks is inline code, not a fence.
    let opens = ch != '`' || !rest.contains('`');
    Some((Fence { ch, len }, opens, closes))
}

/// Fence lengths above this are treated as this long when pairing; keeps pairing linear.
const MAX_FENCE: usize = 16;

/// Marks lines inside properly closed fenced code blocks. An opener without a matching closer is
/// treated as plain text rather than swallowing the rest of the report, which a sloppy (or hostile)
/// stray ``` would otherwise do. Linear: a backward sweep records, for every opener, the nearest
/// later closer that is long enough.
fn fence_mask(lines: &[&str]) -> Vec<bool> {
    let n = lines.len();
    let mut next_closer: Vec<Option<usize>> = vec![None; n];
    // nearest[c][k]: nearest closer below the sweep position made of char c with length >= k.
    let mut nearest = [[None::<usize>; MAX_FENCE + 1]; 2];
    for (i, line) in lines.iter().enumerate().rev() {
        let Some((fence, opens, closes)) = fence_of(line) else {
            continue;
        };
        let slot = usize::from(fence.ch == '~');
        let len = fence.len.min(MAX_FENCE);
        if opens && let Some(entry) = next_closer.get_mut(i) {
            *entry = nearest
                .get(slot)
                .and_then(|row| row.get(len))
                .copied()
                .flatten();
        }
        if closes && let Some(row) = nearest.get_mut(slot) {
            for entry in row.iter_mut().take(len + 1) {
                *entry = Some(i);
            }
        }
    }
    let mut mask = vec![false; n];
    let mut i = 0;
    while i < n {
        match next_closer.get(i).copied().flatten() {
            Some(end) if end > i => {
                for m in mask.iter_mut().take(end + 1).skip(i) {
                    *m = true;
                }
                i = end + 1;
            }
            _ => i += 1,
        }
    }
    mask
}

/// "> text" is quoted mail; ">= 1.0.0, < 1.6.0" (a version range on its own line) is not.
fn is_quoted(line: &Line<'_>) -> bool {
    let t = line.text.trim_start();
    !line.code
        && t.starts_with('>')
        && !t
            .strip_prefix(">=")
            .or_else(|| t.strip_prefix('>'))
            .is_some_and(|r| starts_with_version(r.trim_start()))
}

/// "1.0.0", "v2.3": digits, a dot and a digit ("1. Open" is a numbered line, not a version).
fn starts_with_version(s: &str) -> bool {
    let s = s.strip_prefix(['v', 'V']).unwrap_or(s);
    let digits = s.bytes().take_while(u8::is_ascii_digit).count();
    digits > 0
        && s.get(digits..)
            .and_then(|r| r.strip_prefix('.'))
            .is_some_and(|r| r.starts_with(|c: char| c.is_ascii_digit()))
}

/// "On Tue, 1 Jan 2030, Jane <jane@example.org> wrote:" and its translations share the ending.
fn is_attribution(text: &str) -> bool {
    let t = text.trim();
    t.len() < 300 && (t.ends_with("wrote:") || t.ends_with("schrieb:") || t.ends_with("a écrit :"))
}

/// Drops quoted reply material (`> ...` lines and the attribution line before them) and anything
/// after an Outlook "Original Message" marker. If the whole message is quoted (someone forwarded a
/// report by quoting it), one level of quoting is removed instead so the report is not lost.
fn drop_quotes(lines: Vec<Line<'_>>) -> Vec<Line<'_>> {
    let has_own_content = lines.iter().any(|l| {
        !l.is_blank() && !is_quoted(l) && !is_attribution(l.text) && !is_outlook_marker(l.text)
    });
    if !has_own_content {
        return lines
            .into_iter()
            .filter(|l| !is_attribution(l.text) && !is_outlook_marker(l.text))
            .map(|l| {
                if is_quoted(&l) {
                    let t = l.text.trim_start();
                    let t = t.strip_prefix('>').unwrap_or(t);
                    let t = t.strip_prefix(' ').unwrap_or(t);
                    Line {
                        text: t,
                        code: false,
                    }
                } else {
                    l
                }
            })
            .collect();
    }
    let mut out: Vec<Line<'_>> = Vec::with_capacity(lines.len());
    let mut seen_content = false;
    for (i, line) in lines.iter().enumerate() {
        if is_quoted(line) {
            continue;
        }
        if !line.code && is_outlook_marker(line.text) && seen_content {
            break;
        }
        if !line.code && is_attribution(line.text) {
            let next = lines.iter().skip(i + 1).find(|l| !l.is_blank());
            if next.is_none_or(is_quoted) {
                continue;
            }
        }
        seen_content |= !line.is_blank();
        out.push(*line);
    }
    out
}

fn is_outlook_marker(text: &str) -> bool {
    let t = text.trim();
    t.starts_with("-----") && t.ends_with("-----") && t.contains("Original Message")
}

fn is_valediction(text: &str) -> bool {
    if super::labels::is_closing(text) {
        return true;
    }
    let t = text.trim().trim_end_matches([',', '.', '!']).to_lowercase();
    let t = t
        .strip_prefix("best ")
        .or_else(|| t.strip_prefix("kind "))
        .or_else(|| t.strip_prefix("warm "))
        .or_else(|| t.strip_prefix("many "))
        .unwrap_or(&t);
    matches!(
        t,
        "regards"
            | "wishes"
            | "thanks"
            | "thank you"
            | "thanks in advance"
            | "cheers"
            | "sincerely"
            | "yours sincerely"
            | "greetings"
            | "br"
            | "best"
            | "mit freundlichen grüßen"
            | "viele grüße"
            | "cordialement"
            | "saludos"
    )
}

/// Drops a closing "Regards,\nJane" paragraph: without a "-- " delimiter it would otherwise be
/// read as the tail of whatever section came last.
fn drop_valediction(mut lines: Vec<Line<'_>>) -> Vec<Line<'_>> {
    let Some(last) = lines.iter().rposition(|l| !l.is_blank()) else {
        return lines;
    };
    let start = lines
        .iter()
        .take(last + 1)
        .rposition(Line::is_blank)
        .map_or(0, |b| b + 1);
    let paragraph = lines.get(start..=last).unwrap_or_default();
    let short = paragraph.len() <= 5
        && paragraph
            .iter()
            .all(|l| !l.code && l.text.chars().count() <= 60);
    let content_before = lines.iter().take(start).any(|l| !l.is_blank());
    if short && content_before && paragraph.first().is_some_and(|l| is_valediction(l.text)) {
        lines.truncate(start);
    }
    lines
}

/// Cuts the conventional "-- " signature. The last such line wins: everything after it is the
/// signature, and an earlier "-- " line is more likely a separator inside the report.
fn drop_signature(mut lines: Vec<Line<'_>>) -> Vec<Line<'_>> {
    let cut = lines
        .iter()
        .rposition(|l| !l.code && (l.text == "-- " || l.text == "--\u{a0}"));
    if let Some(cut) = cut {
        let content_before = lines.iter().take(cut).any(|l| !l.is_blank());
        if content_before {
            lines.truncate(cut);
        }
    }
    lines
}

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::indexing_slicing)]
mod tests {
    use super::*;

    fn texts(input: &str) -> Vec<String> {
        let c = clean(input);
        c.lines().iter().map(|l| l.text.to_owned()).collect()
    }

    #[test]
    fn trim_block_keeps_first_indent_and_collapses_blanks() {
        assert_eq!(trim_block("\n\n    code\n\n\n\nx  \n\n"), "    code\n\nx");
    }

    #[test]
    fn normalise_line_endings_and_controls() {
        assert_eq!(normalise("a\r\nb\rc\n\u{0}d\u{1b}e"), "a\nb\nc\nde");
    }

    #[test]
    fn prefix_and_suffix_respect_char_boundaries() {
        let s = "aé€😀";
        assert_eq!(prefix(s, 2), "a");
        assert_eq!(prefix(s, 3), "aé");
        assert_eq!(prefix(s, 100), s);
        assert_eq!(suffix(s, 5), "😀");
        assert_eq!(suffix(s, 6), "😀");
        assert_eq!(suffix(s, 7), "€😀");
        let mut owned = String::from("ééé");
        truncate_at_char_boundary(&mut owned, 5);
        assert_eq!(owned, "éé");
    }

    #[test]
    fn quotes_and_attribution_are_dropped() {
        let got = texts("Hello\nOn Mon, Jane wrote:\n> old\n> stuff\nNew text");
        assert_eq!(got, vec!["Hello", "New text"]);
    }

    #[test]
    fn fully_quoted_message_is_unquoted() {
        let got = texts("On Mon, Jane wrote:\n> Title: X\n>\n> Body");
        assert_eq!(got, vec!["Title: X", "", "Body"]);
    }

    #[test]
    fn signature_is_cut_at_last_delimiter() {
        let got = texts("Body\n-- \nmid\n-- \nJane\nPGP: x");
        assert_eq!(got, vec!["Body", "-- ", "mid"]);
        // A report that is nothing but a "signature" keeps its text.
        assert_eq!(texts("-- \nJane"), vec!["-- ", "Jane"]);
    }

    #[test]
    fn fences_mark_code_and_unclosed_fences_do_not_swallow() {
        let c = clean("a\n```sh\n> not a quote\n# not a heading\n```\nb\n```\nunclosed");
        let lines = c.lines();
        let flags: Vec<(&str, bool)> = lines.iter().map(|l| (l.text, l.code)).collect();
        assert_eq!(
            flags,
            vec![
                ("a", false),
                ("```sh", true),
                ("> not a quote", true),
                ("# not a heading", true),
                ("```", true),
                ("b", false),
                ("```", false),
                ("unclosed", false),
            ]
        );
    }

    #[test]
    fn longer_fence_needs_longer_closer_and_inline_backticks_are_not_fences() {
        let c = clean("````\n```\nx\n````\n```a`b```\ny");
        let code: Vec<bool> = c.lines().iter().map(|l| l.code).collect();
        assert_eq!(code, vec![true, true, true, true, false, false]);
    }

    #[test]
    fn many_unclosed_fences_are_linear() {
        let input = "```x\n".repeat(50_000);
        let start = std::time::Instant::now();
        let c = clean(&input);
        assert!(c.lines().iter().all(|l| !l.code));
        assert!(start.elapsed().as_secs() < 5);
    }

    #[test]
    fn clearsign_armour_is_removed() {
        let input = "-----BEGIN PGP SIGNED MESSAGE-----\nHash: SHA512\n\nTitle: X\n- -- dashed\n-----BEGIN PGP SIGNATURE-----\n\nabc\n-----END PGP SIGNATURE-----\n";
        assert_eq!(texts(input), vec!["Title: X", "-- dashed", ""]);
    }

    #[test]
    fn closing_valediction_is_dropped() {
        assert_eq!(texts("Body\n\nBest regards,\nKim\nACME"), vec!["Body", ""]);
        assert_eq!(texts("Body\n\nThanks!"), vec!["Body", ""]);
        // Only a closing paragraph, and never the whole message.
        assert_eq!(texts("Thanks,\nKim"), vec!["Thanks,", "Kim"]);
        assert_eq!(
            texts("Body\n\nThanks to the team the bug was found quickly.\nMore."),
            vec![
                "Body",
                "",
                "Thanks to the team the bug was found quickly.",
                "More."
            ]
        );
    }

    #[test]
    fn outlook_original_message_is_dropped() {
        let got = texts("New\n-----Original Message-----\nFrom: x\nold");
        assert_eq!(got, vec!["New"]);
    }
}
