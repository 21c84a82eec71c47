//! Affected versions as ranges, and the versions a report names as fixed.
//!
//! [`ranges`] reads the text of the affected-versions field (labelled or found in prose) into
//! [`AffectedRange`]s, every range in the order written: one per line, per list item, or per
//! part of a sentence separated by commas, semicolons or "and" in the report's language. The
//! words that make a range are the vocabulary tables' `versions.*` entries:
//! "before X" → fixed X; "X through Y", "X – Y", "X 〜 Y", "X부터 Y까지" → introduced X,
//! last_affected Y; "X and earlier", "X 及之前", "up to X" → last_affected X; ">= A < B" and
//! "A.x before A.y" → introduced A, fixed B; "X and later" → introduced X.
//!
//! [`fixed_versions`] finds the versions stated apart as fixed ("Fixed in: 2.7.8", "Patched
//! versions", "corrigé dans la version", "修复版本"): they are never affected ranges.
//!
//! Like the rest of `extract`: no I/O, `regex` automata only, linear passes.

use std::sync::LazyLock;

use regex::Regex;

use super::fields::AffectedRange;
use super::labels::{self, VersionWords};
use super::text::{compile, pattern, prefix};

/// A version token: "2.4", "8.2R12.1", "1.0.0-rc.1", "2.4.x", "v3", "10". Single numbers are
/// allowed here because the text is already known to be about versions.
const TOKEN: &str = r"(?:[vV]|[A-Z]{1,2})?\d{1,9}(?:\.(?:\d{1,9}|[xX*]))*(?:[A-Za-z]{1,3}\d{1,6}(?:\.\d{1,6})*)?(?:[-+~][A-Za-z][0-9A-Za-z]{0,15}(?:\.[0-9A-Za-z]{1,16})*|-\d{3,9})?";

pattern!(TOKENS, TOKEN);

/// At most this many ranges are read from one field (a hostile list stays bounded).
const MAX_RANGES: usize = 64;

/// The part of a field the range reader looks at.
const MAX_FIELD_BYTES: usize = 8192;

// "Ver.", "version", "バージョン", "버전", "版本" before or between versions carry nothing.
pattern!(
    VERSION_WORD,
    r"(?i)(?:(?-u:\b)(?:ver(?:sion|sión|são|sione|sie|sja|sii|siya)?s?|versionen|versies|versioni|versões|versiones|wersje|wersji|версия|версии|версій|версії|версія|release|releases|build)(?-u:\b)\.?|バージョン|버전|版本|版)"
);

/// Ranges of one affected-versions text, in the order written; empty when none is readable.
pub(crate) fn ranges(text: &str) -> Vec<AffectedRange> {
    let text = prefix(text, MAX_FIELD_BYTES);
    let mut out = Vec::new();
    if platforms_only(text) {
        return out;
    }
    let w = labels::version_words();
    // "Las versiones anteriores a:" over one product and version per line: the bound of
    // the line without a version is the bound of every line under it.
    let mut carried = None;
    for line in text.lines() {
        if tokens(line).is_empty() {
            let lead = line.trim_end().trim_end_matches([':', '：']);
            if !lead.trim().is_empty() {
                carried = bound_before(lead, w);
            }
            continue;
        }
        let from = out.len();
        for segment in segments(line) {
            read_segment(segment, &mut out);
        }
        if let Some(bound) = carried {
            for r in out.iter_mut().skip(from) {
                apply_carried(r, bound);
            }
        }
        if out.len() >= MAX_RANGES {
            out.truncate(MAX_RANGES);
            break;
        }
    }
    merge_bounds(out)
}

/// A single version ("Pinar 88.0.1") under a line that bounds it ("anteriores a:").
fn apply_carried(r: &mut AffectedRange, bound: Bound) {
    if r.fixed.is_some() || r.introduced != r.last_affected {
        return;
    }
    let Some(version) = r.last_affected.take() else {
        return;
    };
    match bound {
        Bound::Fixed => {
            r.introduced = None;
            r.fixed = Some(version);
        }
        Bound::Last => {
            r.introduced = None;
            r.last_affected = Some(version);
        }
        Bound::Lower => r.last_affected = None,
    }
}

/// "星川ランタイム SE 18\n星川ランタイム SE 17.0.2 およびそれ以前": a field of two or more
/// lines, each with a version, is a list of products with their versions. Gives the
/// product when every line names the same one before its version, else an empty name.
pub(crate) fn product_list(text: &str) -> Option<String> {
    let lines: Vec<&str> = text
        .lines()
        .map(str::trim)
        .filter(|l| !l.is_empty())
        .collect();
    if lines.len() < 2 || lines.len() > MAX_RANGES {
        return None;
    }
    let mut products = Vec::with_capacity(lines.len());
    for line in &lines {
        let first = tokens(line).into_iter().next()?;
        products.push(line.get(..first.start).unwrap_or("").trim());
    }
    let first = products.first().copied().unwrap_or("");
    let same = products.iter().all(|p| *p == first);
    Some(if same {
        first.to_owned()
    } else {
        String::new()
    })
}

pattern!(
    PLATFORM,
    r"(?i)(?-u:\b)(?:windows|server|macos|os x|ios|ipados|android|ubuntu|debian|rhel|red hat|fedora|office)(?-u:\b)"
);

/// "Windows 10 and 11, Windows Server 2019 and 2022": products and platforms, no version of
/// the software itself; every number is a bare integer after a platform name.
fn platforms_only(text: &str) -> bool {
    PLATFORM.as_ref().is_some_and(|re| re.is_match(text))
        && TOKENS
            .as_ref()
            .is_some_and(|re| re.find_iter(text).all(|m| !m.as_str().contains('.')))
}

/// "青云路由器 QR-300 V2.1.0.8": the product when a one-line component ends with a version
/// (with at least one dot; "QR-300" alone is a model, not a version).
pub(crate) fn product_before_version(component: &str) -> Option<String> {
    let t = component.trim();
    if t.contains('\n') {
        return None;
    }
    let last = tokens(t).pop()?;
    let product = t.get(..last.start)?.trim_end();
    let tail_empty = t.get(last.end..).is_some_and(|r| r.trim().is_empty());
    (tail_empty && last.text.contains('.') && !product.is_empty()).then(|| product.to_owned())
}

/// Lines, list items and the parts of a sentence between separators. A comma after a lower
/// bound (">= 1.0, < 1.6") is put back together by [`merge_bounds`].
fn segments(text: &str) -> Vec<&str> {
    let mut out = Vec::new();
    for line in text.lines() {
        let mut rest = line;
        while !rest.is_empty() {
            let cut = separator(rest);
            let (head, tail) = match cut {
                Some((start, end)) => (
                    rest.get(..start).unwrap_or(""),
                    rest.get(end..).unwrap_or(""),
                ),
                None => (rest, ""),
            };
            if !head.trim().is_empty() {
                out.push(head);
            }
            rest = tail;
        }
    }
    out
}

static SEPARATORS: LazyLock<Option<Regex>> = LazyLock::new(|| {
    let words = labels::version_words();
    let mut joins: Vec<String> = words
        .and
        .iter()
        .map(|w| {
            let escaped: Vec<String> = w.split_whitespace().map(regex::escape).collect();
            let spaced = w
                .chars()
                .next()
                .is_some_and(|c| c.is_alphabetic() && !labels::is_cjk(c));
            if spaced {
                format!(r"\s+{}\s+", escaped.join(r"\s+"))
            } else {
                format!(r"\s*{}\s*", escaped.join(r"\s+"))
            }
        })
        .collect();
    joins.sort_by_key(|j| std::cmp::Reverse(j.len()));
    let mut alternatives = vec![r"\s*[;,，；、]\s*".to_owned(), r"\s+/\s+".to_owned()];
    alternatives.extend(joins);
    compile(&format!("(?i){}", alternatives.join("|")))
});

/// The first separator of `s` that does not start a phrase of its own ("and earlier", "及之前",
/// "y anteriores" join a version to its bound, not two ranges).
fn separator(s: &str) -> Option<(usize, usize)> {
    let w = labels::version_words();
    SEPARATORS.as_ref()?.find_iter(s).find_map(|m| {
        let from = prefix(s.get(m.start()..).unwrap_or(""), 48)
            .trim_start()
            .to_lowercase();
        let bound = starts_with_word(&from, &w.earlier) || starts_with_word(&from, &w.later);
        let head_has_version = !tokens(s.get(..m.start()).unwrap_or("")).is_empty();
        (!bound && head_has_version && !inside_phrase(s, m.start(), m.end()))
            .then_some((m.start(), m.end()))
    })
}

/// Whether `start..end` of `s` lies inside a phrase of several words ("tot en met",
/// "up to and including"): the "en"/"and" there joins no two ranges.
fn inside_phrase(s: &str, start: usize, end: usize) -> bool {
    let Some(phrases) = MULTIWORD.as_ref() else {
        return false;
    };
    let mut lo = start.saturating_sub(32);
    while !s.is_char_boundary(lo) {
        lo -= 1;
    }
    let window = prefix(s.get(lo..).unwrap_or(""), end - lo + 32);
    let lower = window.to_lowercase();
    if lower.len() != window.len() {
        return false;
    }
    let (at, until) = (start - lo, end - lo);
    // Overlapping phrases: try every start, each search anchored there.
    (0..=at).filter(|i| lower.is_char_boundary(*i)).any(|i| {
        phrases
            .find_at(&lower, i)
            .is_some_and(|m| m.start() == i && m.end() >= until)
    })
}

/// The version phrases of several words ("tot en met", "up to and including"), longest
/// first.
static MULTIWORD: LazyLock<Option<Regex>> = LazyLock::new(|| {
    let w = labels::version_words();
    let mut words: Vec<&String> = w
        .range
        .iter()
        .chain(&w.upto)
        .chain(&w.before)
        .chain(&w.earlier)
        .chain(&w.later)
        .filter(|p| p.contains(' '))
        .collect();
    words.sort_by_key(|w| std::cmp::Reverse(w.len()));
    let parts: Vec<String> = words.iter().map(|w| regex::escape(w)).collect();
    compile(&parts.join("|"))
});

/// The text before the first `versions.fixed` phrase: "2.7.x before 2.7.8 (fixed in 2.7.8)"
/// keeps "2.7.x before 2.7.8 (", and a fixed-versions line swallowed into the field goes.
pub(crate) fn before_fixed(text: &str) -> &str {
    let lower = text.to_lowercase();
    if lower.len() != text.len() {
        return text;
    }
    let Some(words) = FIXED_WORDS.as_ref() else {
        return text;
    };
    let cut = words.find_iter(&lower).find_map(|m| {
        let before = lower.get(..m.start()).and_then(|b| b.chars().next_back());
        let after = lower.get(m.end()..).and_then(|a| a.chars().next());
        (boundary(before, m.as_str()) && boundary(after, m.as_str())).then_some(m.start())
    });
    match cut {
        Some(0) | None => text,
        Some(at) => text
            .get(..at)
            .unwrap_or(text)
            .trim_end_matches(['(', '（', ' ', ',', ';', '，', '；', '-', '–', '\n']),
    }
}

/// What a word next to a version says about it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Bound {
    /// ">= X", "from X", "X and later".
    Lower,
    /// "< X", "before X": X is the first fixed version.
    Fixed,
    /// "<= X", "up to X", "X and earlier": X is the last affected version.
    Last,
}

fn lower_words(s: &str, words: &[String]) -> bool {
    words.iter().any(|w| s == w.as_str())
}

fn ends_with_word(s: &str, words: &[String]) -> bool {
    words.iter().any(|w| {
        s.ends_with(w.as_str()) && {
            let before = s
                .get(..s.len() - w.len())
                .and_then(|b| b.chars().next_back());
            boundary(before, w)
        }
    })
}

fn starts_with_word(s: &str, words: &[String]) -> bool {
    words.iter().any(|w| {
        s.starts_with(w.as_str()) && {
            let after = s.get(w.len()..).and_then(|a| a.chars().next());
            boundary(after, w)
        }
    })
}

/// A letter word must not run into another letter ("to" inside "tool"); symbols and CJK
/// words need no space.
fn boundary(next: Option<char>, word: &str) -> bool {
    let lettered = word
        .chars()
        .next()
        .is_some_and(|c| c.is_alphabetic() && !labels::is_cjk(c));
    !lettered || !next.is_some_and(|c| c.is_alphanumeric() && !labels::is_cjk(c))
}

/// The bound a word before a version gives it.
fn bound_before(text: &str, w: &VersionWords) -> Option<Bound> {
    let t = clean_context(text);
    let t = t.trim_end();
    if t.ends_with("<=") || t.ends_with('≤') || t.ends_with('≦') || t.ends_with("=<") {
        return Some(Bound::Last);
    }
    if t.ends_with(">=")
        || t.ends_with('≥')
        || t.ends_with('≧')
        || t.ends_with('>')
        || t.ends_with('＞')
    {
        return Some(Bound::Lower);
    }
    if t.ends_with('<') || t.ends_with('＜') {
        return Some(Bound::Fixed);
    }
    if ends_with_word(t, &w.upto) {
        return Some(Bound::Last);
    }
    if ends_with_word(t, &w.before) {
        return Some(Bound::Fixed);
    }
    if ends_with_word(t, &w.from) {
        return Some(Bound::Lower);
    }
    None
}

/// The bound a word after a version gives it.
fn bound_after(text: &str, w: &VersionWords) -> Option<Bound> {
    let t = clean_context(text);
    let t = t.trim_start();
    if starts_with_word(t, &w.earlier) {
        return Some(Bound::Last);
    }
    if starts_with_word(t, &w.below) {
        return Some(Bound::Fixed);
    }
    if starts_with_word(t, &w.later) {
        return Some(Bound::Lower);
    }
    if starts_with_word(t, &w.until) {
        return Some(Bound::Last);
    }
    None
}

/// Lower-cased context with "Ver."/"version"/"バージョン" taken out and brackets as spaces.
fn clean_context(text: &str) -> String {
    let lower = text
        .to_lowercase()
        .replace("（含）", " ")
        .replace("(含)", " ");
    let stripped = match VERSION_WORD.as_ref() {
        Some(re) => re.replace_all(&lower, " ").into_owned(),
        None => lower,
    };
    let spaced: String = stripped
        .chars()
        .map(|c| {
            if "()（）[]「」:：\"'`*".contains(c) {
                ' '
            } else {
                c
            }
        })
        .collect();
    spaced.split_whitespace().collect::<Vec<_>>().join(" ")
}

/// How two versions with `between` them make one range, if they do.
fn pair(between: &str, series: bool, w: &VersionWords) -> Option<Bound> {
    let t = clean_context(between);
    if t.is_empty() || t.chars().count() > 24 {
        return None;
    }
    // "2.0.0 <= 版本 < 2.4.1": the operator next to the upper version decides.
    let t = t.trim_end();
    if t.ends_with("<=") || t.ends_with('≤') {
        return Some(Bound::Last);
    }
    if t.ends_with('<') || t.contains(", <") || t.contains(",<") {
        return Some(Bound::Fixed);
    }
    // "5.3.x до 5.3.2", "2.7.x bis 2.7.8": after a series the word means "before".
    if series && (lower_words(t, &w.before) || ends_with_word(t, &w.before)) {
        return Some(Bound::Fixed);
    }
    if lower_words(t, &w.range) || ends_with_word(t, &w.range) || ends_with_word(t, &w.upto) {
        return Some(Bound::Last);
    }
    if lower_words(t, &w.before) || ends_with_word(t, &w.before) {
        return Some(Bound::Fixed);
    }
    None
}

/// "2.7.x" as the first affected version is "2.7.0"; as a last affected version it stays.
fn lower_version(v: &str) -> String {
    let v = strip_v(v);
    match v
        .strip_suffix(".x")
        .or_else(|| v.strip_suffix(".X"))
        .or_else(|| v.strip_suffix(".*"))
    {
        Some(stem) => format!("{stem}.0"),
        None => v.to_owned(),
    }
}

fn strip_v(v: &str) -> &str {
    v.strip_prefix(['v', 'V'])
        .filter(|r| r.starts_with(|c: char| c.is_ascii_digit()))
        .unwrap_or(v)
}

struct Token<'a> {
    start: usize,
    end: usize,
    text: &'a str,
}

fn tokens(segment: &str) -> Vec<Token<'_>> {
    let Some(re) = TOKENS.as_ref() else {
        return Vec::new();
    };
    re.find_iter(segment)
        .filter(|m| {
            // "CVE-2024-1234", "CWE-79", dates and addresses are not versions.
            let before = segment.get(..m.start()).and_then(|b| b.chars().next_back());
            let after = segment.get(m.end()..).and_then(|a| a.chars().next());
            let glued = |c: Option<char>| {
                c.is_some_and(|c| c.is_ascii_alphanumeric() || c == '-' || c == '_')
            };
            // "1.2.0-1.4.9": a hyphen right after a version joins a range.
            let joined = before == Some('-')
                && segment
                    .get(..m.start().saturating_sub(1))
                    .and_then(|b| b.chars().next_back())
                    .is_some_and(|c| c.is_ascii_digit());
            let joins_next = after == Some('-')
                && segment
                    .get(m.end() + 1..)
                    .and_then(|a| a.chars().next())
                    .is_some_and(|c| c.is_ascii_digit());
            (joined || !glued(before)) && (joins_next || !glued(after)) && plausible(m.as_str())
        })
        .map(|m| Token {
            start: m.start(),
            end: m.end(),
            text: m.as_str(),
        })
        .collect()
}

/// A date ("01.02.2024") or an address ("10.0.0.1") is not a version; neither is a year alone.
fn plausible(v: &str) -> bool {
    let parts: Vec<&str> = v.split('.').collect();
    let in_range = |s: &str, max: u32| s.parse::<u32>().is_ok_and(|n| (1..=max).contains(&n));
    let date = matches!(parts.as_slice(), [d, m, y]
        if in_range(d, 31) && in_range(m, 12) && y.len() == 4
            && (y.starts_with("19") || y.starts_with("20")));
    let year = parts.len() == 1 && v.len() == 4 && v.starts_with(['1', '2']);
    !date && !year && parts.len() <= 5
}

/// "2.5.9之前的2.5.x版本", "1.x 系の 1.2.0 以降": a series ("2.5.x") beside a range of the same
/// segment names the range's line, not a range of its own; it opens the range when the
/// range has no start.
fn read_segment(segment: &str, out: &mut Vec<AffectedRange>) {
    let mut found = Vec::new();
    read_segment_ranges(segment, &mut found);
    let series = |r: &AffectedRange| {
        r.introduced.as_deref().is_some_and(is_series) && r.introduced == r.last_affected
    };
    let (lines, ranges): (Vec<AffectedRange>, Vec<AffectedRange>) =
        found.into_iter().partition(|r| series(r));
    let mut ranges = merge_bounds(ranges);
    if ranges.is_empty() {
        out.extend(lines);
        return;
    }
    for line in lines {
        if let Some(open) = ranges.iter_mut().find(|r| r.introduced.is_none()) {
            open.introduced = line.introduced.as_deref().map(lower_version);
        }
    }
    out.extend(ranges);
}

/// Words naming a release line before its number: "branch 8.2", "w gałęzi 8.2".
fn names_a_branch(lead: &str) -> bool {
    const BRANCH: &[&str] = &[
        "branch",
        "release line",
        "gałęzi",
        "gałąź",
        "ветке",
        "ветки",
        "ветка",
        "гілці",
        "гілки",
        "zweig",
        "branche",
        "ramo",
        "rama",
        "tak",
        "系列",
        "分支",
    ];
    let t = lead.trim_end().to_lowercase();
    BRANCH.iter().any(|b| t.ends_with(b))
}

fn is_series(v: &str) -> bool {
    v.ends_with(".x") || v.ends_with(".X") || v.ends_with(".*")
}

fn read_segment_ranges(segment: &str, out: &mut Vec<AffectedRange>) {
    let w = labels::version_words();
    let toks = tokens(segment);
    let mut i = 0;
    let mut last_end = 0;
    while let Some(a) = toks.get(i) {
        let lead = segment.get(last_end..a.start).unwrap_or("");
        if let Some(b) = toks.get(i + 1)
            && let Some(kind) = pair(
                segment.get(a.end..b.start).unwrap_or(""),
                is_series(a.text),
                w,
            )
        {
            let mut range = AffectedRange {
                introduced: Some(lower_version(a.text)),
                text: segment.get(a.start..b.end).unwrap_or("").trim().to_owned(),
                ..AffectedRange::default()
            };
            match kind {
                Bound::Fixed => range.fixed = Some(strip_v(b.text).to_owned()),
                _ => range.last_affected = Some(strip_v(b.text).to_owned()),
            }
            out.push(range);
            last_end = b.end;
            i += 2;
            continue;
        }
        let next_start = toks.get(i + 1).map_or(segment.len(), |n| n.start);
        let tail = segment.get(a.end..next_start).unwrap_or("");
        if names_a_branch(lead) {
            // "8.2R12.1 i wcześniejsze w gałęzi 8.2": the branch is not a range of its own.
            last_end = a.end;
            i += 1;
            continue;
        }
        let bound = bound_before(lead, w).or_else(|| bound_after(tail, w));
        let version = strip_v(a.text).to_owned();
        let mut range = AffectedRange {
            text: segment.get(a.start..a.end).unwrap_or("").trim().to_owned(),
            ..AffectedRange::default()
        };
        match bound {
            Some(Bound::Fixed) => range.fixed = Some(version),
            Some(Bound::Last) => range.last_affected = Some(version),
            Some(Bound::Lower) => range.introduced = Some(lower_version(a.text)),
            // A single version is affected alone: it opens and closes its range.
            None => {
                range.introduced = Some(version.clone());
                range.last_affected = Some(version);
            }
        }
        range.text = segment.trim().to_owned();
        out.push(range);
        last_end = a.end;
        i += 1;
    }
}

/// ">= 1.0.0, < 1.6.0" was cut at the comma: a lone lower bound followed by a lone upper
/// bound is one range.
fn merge_bounds(ranges: Vec<AffectedRange>) -> Vec<AffectedRange> {
    let mut out: Vec<AffectedRange> = Vec::with_capacity(ranges.len());
    for r in ranges {
        let lone_upper = r.introduced.is_none() && (r.fixed.is_some() || r.last_affected.is_some());
        if lone_upper
            && let Some(prev) = out.last_mut()
            && prev.introduced.is_some()
            && prev.fixed.is_none()
            && prev.last_affected.is_none()
        {
            prev.fixed = r.fixed;
            prev.last_affected = r.last_affected;
            prev.text = format!("{}, {}", prev.text, r.text);
            continue;
        }
        out.push(r);
    }
    out
}

pattern!(
    FIXED_LIST,
    r"^[\s:：\-–=>≥「『“]*((?:(?:[-*•·]\s*)?[A-Za-z]{0,2}\d[0-9A-Za-z.+~\-]*(?:\s*(?:,|，|、|;|\||/|\s+and\s+|\s+or\s+|\s+und\s+|\s+et\s+|\s+y\s+|\s+e\s+|\s+en\s+|\s+i\s+|\s+и\s+|\s+і\s+|\s+та\s+|\s*및\s*|\s*和\s*|\s*及\s*|\s+или\s+|\s+або\s+|\s+lub\s+|\s+o\s+|\s+ou\s+|\s+oder\s+|\s+of\s+|\s*或\s*|\s*\n\s*)\s*)?){1,16})"
);

/// Every `versions.fixed` phrase as one automaton, longest first.
static FIXED_WORDS: LazyLock<Option<Regex>> = LazyLock::new(|| {
    let mut words: Vec<&String> = labels::version_words()
        .fixed
        .iter()
        .filter(|w| !w.trim().is_empty())
        .collect();
    words.sort_by_key(|w| std::cmp::Reverse(w.len()));
    let parts: Vec<String> = words.iter().map(|w| regex::escape(w)).collect();
    compile(&parts.join("|"))
});

/// Versions named as fixed: after a `versions.fixed` word ("Fixed in: 2.7.8, 3.0.7",
/// "corrigé dans la version 4.1", "修复版本：2.1.1"), in the order written, without repeats.
pub(crate) fn fixed_versions(text: &str) -> Vec<String> {
    let text = prefix(text, 64 * 1024);
    let lower = text.to_lowercase();
    let mut out: Vec<String> = Vec::new();
    let Some(list) = FIXED_LIST.as_ref() else {
        return out;
    };
    let Some(words) = FIXED_WORDS.as_ref() else {
        return out;
    };
    for m in words.find_iter(&lower) {
        let (start, end, word) = (m.start(), m.end(), m.as_str());
        let before = lower.get(..start).and_then(|b| b.chars().next_back());
        let after = lower.get(end..).and_then(|a| a.chars().next());
        if !boundary(before, word) || !boundary(after, word) {
            continue;
        }
        // Positions are found in the lower-cased text; versions are read from the text
        // as written ("8.2R1", "D4.93") when lower-casing kept the byte offsets.
        let source = if lower.len() == text.len() {
            text
        } else {
            lower.as_str()
        };
        let rest_lower = skip_version_words(lower.get(end..).unwrap_or(""));
        let offset = lower.len() - rest_lower.len();
        let rest = source.get(offset..).unwrap_or(rest_lower);
        // "Behoben in: 2.15.0; für Java 7 in 2.12.2": on a key line every version is fixed.
        if is_key(&lower, start, end) {
            let line = rest.split('\n').next().unwrap_or("");
            push_dotted(&mut out, tokens(line).iter().map(|t| t.text));
        }
        if let Some(c) = list.captures(rest).and_then(|c| c.get(1)) {
            for tok in tokens(c.as_str())
                .into_iter()
                .filter(|t| t.text.contains('.'))
            {
                let v = strip_v(tok.text).to_owned();
                if !out.contains(&v) {
                    out.push(v);
                }
            }
        }
    }
    out
}

/// Whether the fixed word at `start..end` of `lower` is the key of a line: only a list
/// marker before it on its line, a colon after it.
fn is_key(lower: &str, start: usize, end: usize) -> bool {
    let line_start = lower
        .get(..start)
        .and_then(|b| b.rfind('\n'))
        .map_or(0, |i| i + 1);
    let lead = lower.get(line_start..start).unwrap_or("x");
    let after = lower.get(end..).unwrap_or("");
    lead.trim_start_matches([' ', '\t', '-', '*', '•', '_'])
        .is_empty()
        && after
            .trim_start_matches([' ', '*', '_'])
            .starts_with([':', '：'])
}

/// Adds the versions with a dot ("2.12.2", not "Java 7") not yet in `out`, as written.
fn push_dotted<'a>(out: &mut Vec<String>, found: impl Iterator<Item = &'a str>) {
    for v in found.filter(|t| t.contains('.')).map(strip_v) {
        if !out.iter().any(|o| o == v) {
            out.push(v.to_owned());
        }
    }
}

/// The longest sentence [`fixed_in_sentences`] reads; a longer run is not one statement.
const MAX_SENTENCE_BYTES: usize = 600;

/// Sentences of `text`: cut after `.`, `!`, `?`, `;` followed by white space, after `。`,
/// `；` and at blank lines.
fn sentences(text: &str) -> Vec<&str> {
    let mut out = Vec::new();
    let mut start = 0;
    let mut chars = text.char_indices().peekable();
    while let Some((i, c)) = chars.next() {
        let next = chars.peek().map(|(_, n)| *n);
        let end = i + c.len_utf8();
        let cut = match c {
            '。' | '；' | '！' | '？' => true,
            '.' | '!' | '?' | ';' => next.is_none_or(char::is_whitespace),
            '\n' => text
                .get(end..)
                .is_some_and(|r| r.trim_start_matches([' ', '\t']).starts_with('\n')),
            _ => false,
        };
        if cut {
            out.push(text.get(start..end).unwrap_or(""));
            start = end;
        }
    }
    out.push(text.get(start..).unwrap_or(""));
    out
}

/// The versions of a sentence that some `versions.fixes` phrase calls fixing ones ("La
/// versión 5.2.1, publicada la semana pasada, lo corrige", "Versie 4.12.3 lost het op",
/// "5.0.0 이상으로 업데이트"), in the order written.
pub(crate) fn fixed_in_sentences(text: &str) -> Vec<String> {
    let text = prefix(text, 64 * 1024);
    let mut out = Vec::new();
    let Some(words) = FIXES_WORDS.as_ref() else {
        return out;
    };
    for sentence in sentences(text) {
        if sentence.len() > MAX_SENTENCE_BYTES {
            continue;
        }
        let lower = sentence.to_lowercase();
        let said = words.find_iter(&lower).any(|m| {
            let before = lower.get(..m.start()).and_then(|b| b.chars().next_back());
            let after = lower.get(m.end()..).and_then(|a| a.chars().next());
            boundary(before, m.as_str()) && boundary(after, m.as_str())
        });
        if said {
            push_dotted(&mut out, unbounded(sentence).into_iter());
        }
    }
    out
}

/// The versions of a fix section ("Actualizar a la última versión: • Pinar 88.0.1",
/// "1.更新 StarOS 至 5.1.3 或 5.2.2（含）以後版本", "□ 해결 방안 - 9.16.33"): what the
/// section tells to install, less the versions it names as affected.
pub(crate) fn fixed_in_section(text: &str, affected: &[AffectedRange]) -> Vec<String> {
    let text = prefix(text, MAX_FIELD_BYTES);
    let named_affected = |v: &str| {
        affected
            .iter()
            .any(|r| r.introduced.as_deref() == Some(v) || r.last_affected.as_deref() == Some(v))
    };
    let mut out = Vec::new();
    // "CVE-2026-62910 - CVSS (v3) 7.2": a score is no version.
    for line in text.lines().filter(|l| !l.to_lowercase().contains("cvss")) {
        let found: Vec<&str> = unbounded(line)
            .into_iter()
            .filter(|v| !named_affected(strip_v(v)))
            .collect();
        push_dotted(&mut out, found.into_iter());
    }
    out
}

/// The versions of `segment` that are neither a last affected version ("4.8.2 and
/// earlier", "up to 4.8.2") nor one end of a range ("4.0 bis 4.2").
fn unbounded(segment: &str) -> Vec<&str> {
    let w = labels::version_words();
    let toks = tokens(segment);
    let mut out = Vec::new();
    let mut i = 0;
    let mut last_end = 0;
    while let Some(a) = toks.get(i) {
        let between = toks
            .get(i + 1)
            .map(|b| segment.get(a.end..b.start).unwrap_or(""));
        // "1.更新 StarOS 至 5.1.3": a list number opens no range.
        let opens = a.text.contains('.') || is_series(a.text);
        if opens && between.is_some_and(|t| pair(t, is_series(a.text), w).is_some()) {
            last_end = toks.get(i + 1).map_or(a.end, |b| b.end);
            i += 2;
            continue;
        }
        let lead = segment.get(last_end..a.start).unwrap_or("");
        let next_start = toks.get(i + 1).map_or(segment.len(), |n| n.start);
        let tail = segment.get(a.end..next_start).unwrap_or("");
        let last =
            bound_before(lead, w) == Some(Bound::Last) || bound_after(tail, w) == Some(Bound::Last);
        if !last {
            out.push(a.text);
        }
        last_end = a.end;
        i += 1;
    }
    out
}

/// Every `versions.fixes` phrase as one automaton, longest first.
static FIXES_WORDS: LazyLock<Option<Regex>> = LazyLock::new(|| {
    let mut words: Vec<&String> = labels::version_words()
        .fixes
        .iter()
        .filter(|w| !w.trim().is_empty())
        .collect();
    words.sort_by_key(|w| std::cmp::Reverse(w.len()));
    let parts: Vec<String> = words
        .iter()
        .map(|w| {
            let escaped: Vec<String> = w.split_whitespace().map(regex::escape).collect();
            escaped.join(r"\s+")
        })
        .collect();
    compile(&parts.join("|"))
});

/// "la version", "version", "バージョン" between the fixed word and its versions.
fn skip_version_words(s: &str) -> &str {
    let mut rest = s.trim_start_matches([' ', ':', '：', '\t', '*', '_', '`', '|']);
    for _ in 0..3 {
        let trimmed = rest.trim_start_matches([' ', ':', '：', '\t', '\n']);
        let next = [
            "les ", "la ", "le ", "the ", "de ", "der ", "die ", "della ", "na ", "w ", "в ", "у ",
            "「", "『", "“",
        ]
        .iter()
        .find_map(|a| trimmed.strip_prefix(a))
        .unwrap_or(trimmed);
        let next = match VERSION_WORD.as_ref().and_then(|re| re.find(next)) {
            Some(m) if m.start() == 0 => next.get(m.end()..).unwrap_or(""),
            _ => next,
        };
        if next.len() == rest.len() {
            break;
        }
        rest = next;
    }
    let rest = rest.trim_start_matches([' ', ':', '：', '\t', '\n', '*', '_', '`', '|']);
    skip_product_name(rest)
}

/// "Quill 1.84", "Kreda 1.84": up to three words of a product name before the versions.
fn skip_product_name(s: &str) -> &str {
    let mut rest = s;
    for _ in 0..3 {
        if rest.starts_with(|c: char| c.is_ascii_digit() || c == 'v' || c == 'V') {
            return rest;
        }
        let Some((word, after)) = rest.split_once(' ') else {
            return s;
        };
        if word.is_empty() || !word.chars().all(|c| c.is_alphanumeric() || c == '-') {
            return s;
        }
        rest = after.trim_start();
    }
    if rest.starts_with(|c: char| c.is_ascii_digit()) {
        rest
    } else {
        s
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::indexing_slicing)]
mod tests {
    use super::*;

    fn show(text: &str) -> Vec<String> {
        ranges(text)
            .iter()
            .map(|r| {
                let mut parts = Vec::new();
                if let Some(v) = &r.introduced {
                    parts.push(format!("introduced={v}"));
                }
                if let Some(v) = &r.fixed {
                    parts.push(format!("fixed={v}"));
                }
                if let Some(v) = &r.last_affected {
                    parts.push(format!("last_affected={v}"));
                }
                parts.join(" ")
            })
            .collect()
    }

    #[test]
    fn patterns_compile() {
        for re in [
            &TOKENS,
            &VERSION_WORD,
            &FIXED_LIST,
            &SEPARATORS,
            &PLATFORM,
            &FIXED_WORDS,
            &FIXES_WORDS,
        ] {
            assert!(re.is_some());
        }
    }

    #[test]
    fn every_range_of_a_field_is_kept() {
        let cases: &[(&str, &[&str])] = &[
            (
                "2.7.x before 2.7.8, 3.0.x before 3.0.7",
                &[
                    "introduced=2.7.0 fixed=2.7.8",
                    "introduced=3.0.0 fixed=3.0.7",
                ],
            ),
            (
                "- 2.7.x before 2.7.8\n- 3.0.x before 3.0.7\n- 3.1.x before 3.1.2",
                &[
                    "introduced=2.7.0 fixed=2.7.8",
                    "introduced=3.0.0 fixed=3.0.7",
                    "introduced=3.1.0 fixed=3.1.2",
                ],
            ),
            (">= 1.0.0 < 1.6.0", &["introduced=1.0.0 fixed=1.6.0"]),
            (">= 1.0.0, < 1.6.0", &["introduced=1.0.0 fixed=1.6.0"]),
            ("before 8.2R12.1", &["fixed=8.2R12.1"]),
            (
                "1.0.0-rc.1 through 1.0.0",
                &["introduced=1.0.0-rc.1 last_affected=1.0.0"],
            ),
            (
                "Ver. 1.0 〜 Ver. 1.4",
                &["introduced=1.0 last_affected=1.4"],
            ),
            ("1.0부터 1.4까지", &["introduced=1.0 last_affected=1.4"]),
            ("2.3 及之前版本", &["last_affected=2.3"]),
            ("3.1.4 以前", &["last_affected=3.1.4"]),
            ("4.2 and earlier", &["last_affected=4.2"]),
            ("5.0 and later", &["introduced=5.0"]),
            ("2.4.1", &["introduced=2.4.1 last_affected=2.4.1"]),
            ("alle Versionen vor 3.2.1", &["fixed=3.2.1"]),
            ("versions antérieures à 3.2", &["fixed=3.2"]),
            ("none given", &[]),
            ("CVE-2024-12345", &[]),
            ("1.2.0-1.4.9", &["introduced=1.2.0 last_affected=1.4.9"]),
            (
                "15.0.2000 bis 15.0.2104",
                &["introduced=15.0.2000 last_affected=15.0.2104"],
            ),
        ];
        for (text, want) in cases {
            assert_eq!(show(text), *want, "text {text:?}");
        }
    }

    #[test]
    fn fixed_versions_stated_apart() {
        let cases: &[(&str, &[&str])] = &[
            ("Fixed in: 2.7.8, 3.0.7", &["2.7.8", "3.0.7"]),
            ("Patched versions: >= 1.6.0", &["1.6.0"]),
            ("Le problème est corrigé dans la version 4.1.2.", &["4.1.2"]),
            ("修复版本：2.1.1", &["2.1.1"]),
            ("nothing fixed yet", &[]),
        ];
        for (text, want) in cases {
            assert_eq!(fixed_versions(text), *want, "text {text:?}");
        }
    }
}
