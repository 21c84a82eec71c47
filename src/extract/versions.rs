//! Affected versions inferred from running text, for reports that give them under no label:
//! "versions before 2.4.1", "2.0 bis 2.2", "2.0 至 2.2", "1.0〜1.4", "5.0 and newer", "<= 3.1",
//! "everything up to 1.8", "foo-lib 0.9.2". The phrase is kept as written; the caller marks
//! the field as inferred.
//!
//! Three passes, the first that finds something wins: the English "versions ..." phrases read
//! before issue 16 (so their results do not change), then the range words of every language's
//! vocabulary table, then a version number right after the component's or a product's name.
//! Every pattern is a `regex` automaton, and each pass looks at a match at most once.

use std::sync::LazyLock;

use regex::Regex;

use super::labels;
use super::text::{compile, pattern, prefix, suffix};

/// A version number: at least two parts ("2.4", "1.2.3", "2.x"), an optional pre-release tag
/// ("2.0-rc1", "1.0b2"); single numbers are too often counts.
const VERSION: &str = r"v?\d{1,6}(?:\.(?:\d{1,6}|[xX*]))+(?:-?[A-Za-z]{1,8}\d{0,4}(?:\.\d{1,6})*)?";

/// Versions from prose, as written, or `None`. `component` is the affected component when a
/// label gave one: a version right after its name is the best guess left.
pub(crate) fn infer(text: &str, component: Option<&str>) -> Option<String> {
    product_lines(text)
        .or_else(|| {
            english_phrase(text)
                .or_else(|| vocabulary_phrase(text))
                .map(|found| joined(text, found))
        })
        .or_else(|| listed_after_word(text))
        .or_else(|| whole_numbers(text))
        .or_else(|| platforms(text))
        .or_else(|| after_name(text, component))
}

/// "de la 7 hasta la 11, ambas incluidas", "von 7 bis 11": releases numbered by whole
/// numbers, read only as a from-to range in a sentence that speaks of versions.
static WHOLE_NUMBERS: LazyLock<Option<Regex>> = LazyLock::new(|| {
    let w = labels::version_words();
    let (from, _) = spaced(&w.from);
    let (range, _) = spaced(&w.range);
    let (until, _) = spaced(&w.until);
    let article = r"(?:(?:la|el|le|der|the|a|o)\s+)?";
    compile(&format!(
        r"(?i){}\s+{article}\d{{1,3}}\s+{}\s+{article}\d{{1,3}}(?:\s*,?\s*{})?",
        alternation(&from),
        alternation(&range),
        alternation(&until)
    ))
});

/// The words that say a sentence is about versions, for [`whole_numbers`].
const VERSION_STEMS: &[&str] = &[
    "version",
    "versión",
    "versione",
    "versão",
    "versõe",
    "versie",
    "wersj",
    "верси",
    "версі",
    "release",
    "バージョン",
    "버전",
    "版本",
];

fn whole_numbers(text: &str) -> Option<String> {
    let re = WHOLE_NUMBERS.as_ref()?;
    re.find_iter(text).find_map(|m| {
        let before = text.get(..m.start()).unwrap_or("");
        let after = text.get(m.end()..).and_then(|a| a.chars().next());
        let starts_mid_word = before
            .chars()
            .next_back()
            .is_some_and(char::is_alphanumeric);
        let ends_mid_word = after.is_some_and(char::is_alphanumeric);
        // The sentence so far, at most a line or two back.
        let sentence = suffix(before, 160);
        let sentence = sentence
            .rfind(['.', '!', '?', '。'])
            .and_then(|i| sentence.get(i + 1..))
            .unwrap_or(sentence)
            .to_lowercase();
        let about_versions = VERSION_STEMS.iter().any(|w| sentence.contains(w));
        (about_versions && !starts_mid_word && !ends_mid_word && !about_scores(text, m.start()))
            .then(|| m.as_str().trim().to_owned())
    })
}

/// Platform names that may stand for the affected list ("Windows 10 and 11").
const PLATFORM_WORDS: &[&str] = &[
    "windows", "server", "macos", "ios", "ipados", "android", "linux", "ubuntu", "debian", "rhel",
    "fedora", "office",
];

/// Every `versions.platforms` phrase as one automaton, longest first.
static PLATFORM_LEADS: LazyLock<Option<Regex>> =
    LazyLock::new(|| compile(&alternation(&labels::version_words().platforms)));

/// "toutes les éditions prises en charge de Windows 10 et Windows 11", "alle ondersteunde
/// Windows-versies (Windows 10 en 11)": after a `versions.platforms` phrase, the platform
/// names and their numbers, joined by "and" words, make the affected list.
fn platforms(text: &str) -> Option<String> {
    let w = labels::version_words();
    let lower = text.to_lowercase();
    if lower.len() != text.len() {
        return None;
    }
    let re = PLATFORM_LEADS.as_ref()?;
    re.find_iter(&lower).find_map(|m| {
        let glued = lower
            .get(..m.start())
            .and_then(|b| b.chars().next_back())
            .is_some_and(char::is_alphanumeric);
        if glued {
            return None;
        }
        let rest = text.get(m.end()..)?;
        let (len, named) = platform_run(prefix(rest, 256), &w.and);
        let value = text.get(m.start()..m.end() + len)?.trim();
        let value = value.trim_end_matches([',', ';', ' ']);
        named.then(|| value.to_owned())
    })
}

/// The length of the run of platform names, numbers, "and" words and brackets that starts
/// `rest`, and whether it names a platform with a number.
fn platform_run(rest: &str, and: &[String]) -> (usize, bool) {
    let (mut end, mut platform, mut number) = (0, false, false);
    let mut at = 0;
    for word in rest.split_inclusive(char::is_whitespace) {
        let start = at;
        at += word.len();
        let kept = word.trim_end();
        let stops = kept.ends_with(['.', ';', ':', '!', '?']);
        let kept = kept.trim_end_matches(['.', ';', ':', '!', '?']);
        let bare = kept.trim_matches(['(', ')', ',', '（', '）']);
        if bare.is_empty() {
            continue;
        }
        let lower = bare.to_lowercase();
        let is_platform = PLATFORM_WORDS
            .iter()
            .any(|p| lower == *p || lower.starts_with(&format!("{p}-")));
        // "10", "2019", "21H2", "R2".
        let is_number = bare.starts_with(|c: char| c.is_ascii_digit())
            || (bare.len() <= 3
                && bare.starts_with('R')
                && bare.chars().skip(1).all(|c| c.is_ascii_digit()));
        let is_and = and.contains(&lower);
        if !(is_platform || is_number || is_and) {
            break;
        }
        platform |= is_platform;
        number |= is_number && platform;
        if is_platform || is_number {
            end = start + kept.len();
        }
        if stops {
            break;
        }
    }
    (end, platform && number)
}

/// List markers of the lines [`product_lines`] reads ("o" leads KrCERT's items).
const MARKERS: &[&str] = &["- ", "* ", "+ ", "• ", "・", "· ", "o ", "○ ", "◦ "];

/// The longest list [`product_lines`] reads, in lines.
const MAX_LIST_LINES: usize = 64;

/// "- 風見ブラウザ 60.0.2 より前のバージョン\n- 風見ブラウザ ESR 52.8.1 より前のバージョン": a
/// list whose items give products with their versions under no label is the affected list,
/// as written, when two or more of its items hold a version phrase.
fn product_lines(text: &str) -> Option<String> {
    let mut run: Vec<&str> = Vec::new();
    let mut phrases = 0;
    for line in text.lines().chain(std::iter::once("")) {
        let t = line.trim();
        let item = MARKERS.iter().any(|m| t.starts_with(m)) && run.len() < MAX_LIST_LINES;
        if item {
            run.push(t);
            phrases += usize::from(vocabulary_phrase(prefix(t, 512)).is_some());
            continue;
        }
        if phrases >= 2 {
            return Some(run.join("\n"));
        }
        run.clear();
        phrases = 0;
    }
    None
}

pattern!(
    JOIN,
    r"(?i)^(?:\s*,)?\s*(?:and|oder|or|und|et|ou|oraz|of|o|en|e|y|i|lub|или|и|і|та|або|以及|及|和|、|,)\s*(?:versions?\s+|versionen\s+|versiones\s+|versioni\s+|versões\s+|versies\s+|wersje\s+|версии\s+|версії\s+)?(?:from\s+|von\s+|de\s+|dalla\s+|da\s+|desde\s+|od\s+|от\s+|від\s+)?"
);

/// "4.2.0 through 4.2.6 and 4.3.0 through 4.3.2": a phrase followed by "and" (in the
/// report's language) and another range is one value with both ranges.
fn joined(text: &str, found: String) -> String {
    let Some(start) = text.find(found.as_str()) else {
        return found;
    };
    let mut end = start + found.len();
    for _ in 0..8 {
        let rest = text.get(end..).unwrap_or("");
        let Some(join) = JOIN.as_ref().and_then(|re| re.find(prefix(rest, 64))) else {
            break;
        };
        let after = rest.get(join.end()..).unwrap_or("");
        let next = vocabulary_phrase_at_start(after);
        let Some(next) = next else { break };
        end += join.end() + next;
    }
    // "15.1.0 tot\nen met 15.1.2507": a phrase wrapped over lines is one line of the field.
    text.get(start..end).map_or(found, |s| {
        s.split_whitespace().collect::<Vec<_>>().join(" ")
    })
}

pattern!(
    LISTED,
    r"(?i)(?-u:\b)(?:versions|versiones|versões|versioni|versies|versionen|wersje|wersjach|версиях|версии|версіях|версії)\s+(v?\d{1,6}(?:\.\d{1,6})+(?:\s*(?:,|\s(?:and|y|e|et|en|und|i|oraz|и|і|та)\s)\s*v?\d{1,6}(?:\.\d{1,6})+)+)"
);

/// "nas versões 8.8.15 e 9.0": versions listed after the word "versions" and joined by
/// "and" are affected one by one. The word is kept, for nothing else in the phrase says
/// that the numbers are versions.
fn listed_after_word(text: &str) -> Option<String> {
    let re = LISTED.as_ref()?;
    re.find_iter(text).find_map(|m| {
        let after = text.get(m.end()..).and_then(|a| a.chars().next());
        let glued = after.is_some_and(char::is_alphanumeric);
        (!glued && plausible(m.as_str()) && !about_scores(text, m.start()))
            .then(|| m.as_str().split_whitespace().collect::<Vec<_>>().join(" "))
    })
}

/// The length of a version phrase that starts `text`, if one does.
fn vocabulary_phrase_at_start(text: &str) -> Option<usize> {
    let re = PHRASES.as_ref()?;
    let m = re.find(prefix(text, 256))?;
    (m.start() == 0 && plausible(m.as_str())).then_some(m.end())
}

/// "CVSS >= 7.0", "score < 4.0", "CVSS 7.0 to 8.9" are about scores, not versions.
fn about_scores(text: &str, start: usize) -> bool {
    let before = text.get(..start).unwrap_or("");
    let ctx = suffix(before, 12).to_ascii_lowercase();
    ["cvss", "score", "rating", "severity"]
        .iter()
        .any(|w| ctx.contains(w))
}

pattern!(
    VERSION_PROSE,
    r"(?ix)
      (?-u:\b)versions?\s+v?\d+(?:\.\d+)*(?:\.[x*])?[a-z0-9+-]*\s*(?:through|thru|to|until|up\s+to(?:\s+and\s+including)?|-|–|—)\s*v?\d+(?:\.\d+)*(?:\.[x*])?[a-z0-9+-]*
    | (?-u:\b)versions?\s+(?:prior\s+to|before|up\s+to(?:\s+and\s+including)?|earlier\s+than|older\s+than|below|lower\s+than|<=?|≤)\s*v?\d+(?:\.\d+)+[a-z0-9+-]*
    | (?-u:\b)versions?\s+v?\d+(?:\.\d+)*\s+(?:and|or)\s+(?:earlier|below|prior|older|lower|before|previous)(?:\s+versions?)?
    | (?-u:\b)versions?\s+v?\d+(?:\.\d+)*\.[x*]
    | (?-u:\b)affects?\s+(?:all\s+)?v?\d+(?:\.[0-9x*]+)+(?:\s+(?:and|or)\s+(?:earlier|below|prior|older|lower|before|later|above|newer))?
    | (?:<=|>=|<|>|≤|≥)\s*v?\d+\.\d+(?:\.\d+)*[a-z0-9+-]*
    "
);
pattern!(AFFECTS_LEAD, r"(?i)^affects?\s+(?:all\s+)?");

/// The English phrases read before issue 16 (their output is unchanged): "versions 1.2.3
/// through 1.4.0", "version 2.x", "affects 3.0 and earlier", "<= 4.1.2".
fn english_phrase(text: &str) -> Option<String> {
    let re = VERSION_PROSE.as_ref()?;
    for m in re.find_iter(text) {
        if about_scores(text, m.start()) || unaffected(text, m.start(), m.end()) {
            continue;
        }
        let mut found = m.as_str().trim().trim_end_matches(['.', '-', '+']);
        if let Some(lead) = AFFECTS_LEAD.as_ref().and_then(|r| r.find(found)) {
            found = found.get(lead.end()..).unwrap_or(found);
        }
        if !found.is_empty() {
            return Some(found.to_owned());
        }
    }
    None
}

/// Phrase words as a pattern alternation, longest first so "up to and including" is not cut
/// short at "up to". Words of letters need spaces around them; symbols and CJK words do not.
fn alternation(words: &[String]) -> String {
    let mut sorted: Vec<&String> = words.iter().filter(|w| !w.trim().is_empty()).collect();
    sorted.sort_by_key(|w| std::cmp::Reverse(w.chars().count()));
    let parts: Vec<String> = sorted
        .iter()
        .map(|w| {
            let escaped: Vec<String> = w.split_whitespace().map(regex::escape).collect();
            escaped.join(r"\s+")
        })
        .collect();
    format!("(?:{})", parts.join("|"))
}

fn spaced(words: &[String]) -> (Vec<String>, Vec<String>) {
    words.iter().cloned().partition(|w| {
        w.chars()
            .next()
            .is_some_and(|c| c.is_alphabetic() && !labels::is_cjk(c))
    })
}

/// One pattern for the range, "before", "and later" and "and earlier" phrases of every
/// language. Word boundaries are checked after matching (see [`vocabulary_phrase`]) so that the
/// automaton stays a DFA on non-ASCII text.
static PHRASES: LazyLock<Option<Regex>> = LazyLock::new(|| {
    let w = labels::version_words();
    let (range_words, range_marks) = spaced(&w.range);
    let before_all: Vec<String> = w.before.iter().chain(&w.upto).cloned().collect();
    let (before_words, before_marks) = spaced(&before_all);
    let after: Vec<String> = w
        .later
        .iter()
        .chain(&w.earlier)
        .chain(&w.below)
        .cloned()
        .collect();
    let (after_words, after_marks) = spaced(&after);
    let all = alternation(&w.all);
    // "dalla 12.5 alla 12.9", "desde la 3.0 hasta la 5.2.0": a preposition glued to its
    // article leads the range as written.
    let lead = r"(?:(?:dalla|dal|desde\s+la)\s+)?";
    let mut alternatives = vec![
        format!(
            r"{lead}{VERSION}\s+{}\s+{VERSION}",
            alternation(&range_words)
        ),
        format!(r"{VERSION}\s*{}\s*{VERSION}", alternation(&range_marks)),
        format!(r"(?:{all}\s+)?{}\s+{VERSION}", alternation(&before_words)),
        format!(r"{VERSION}\s+{}", alternation(&after_words)),
        format!(r"{VERSION}\s*{}", alternation(&after_marks)),
        format!(r"(?:<=|>=|<|>|≤|≥|≦|≧|＜|＞)\s*{VERSION}"),
    ];
    if !before_marks.is_empty() {
        alternatives.push(format!(r"{}\s*{VERSION}", alternation(&before_marks)));
    }
    compile(&format!("(?i){}", alternatives.join("|")))
});

fn vocabulary_phrase(text: &str) -> Option<String> {
    let re = PHRASES.as_ref()?;
    for m in re.find_iter(text) {
        let before = text.get(..m.start()).and_then(|b| b.chars().next_back());
        let after = text.get(m.end()..).and_then(|a| a.chars().next());
        let glued = |c: Option<char>| c.is_some_and(|c| c.is_alphanumeric() && !labels::is_cjk(c));
        // "1.2" inside "11.2", "bis" inside "bisher": not a phrase of its own.
        let starts_mid_word =
            glued(before) && m.as_str().chars().next().is_some_and(char::is_alphanumeric);
        let ends_mid_word = glued(after)
            && m.as_str()
                .chars()
                .next_back()
                .is_some_and(char::is_alphanumeric);
        if starts_mid_word
            || ends_mid_word
            || about_scores(text, m.start())
            || unaffected(text, m.start(), m.end())
            || !plausible(m.as_str())
        {
            continue;
        }
        return Some(m.as_str().trim().to_owned());
    }
    None
}

/// The most of a sentence [`unaffected`] looks at on either side of a phrase.
const SENTENCE_BYTES: usize = 240;

/// Whether the sentence around `start..end` says its versions are not affected ("8.2R12.0
/// 이하 버전은 영향을 받지 않습니다", "Versions 2.x are not affected"): such a phrase names
/// no affected version.
fn unaffected(text: &str, start: usize, end: usize) -> bool {
    let words = &labels::version_words().unaffected;
    let before = suffix(text.get(..start).unwrap_or(""), SENTENCE_BYTES);
    let from = [". ", ".\n", "。", "\n\n", "! ", "? "]
        .iter()
        .filter_map(|d| before.rfind(d).map(|i| i + d.len()))
        .max()
        .unwrap_or(0);
    let after = prefix(text.get(end..).unwrap_or(""), SENTENCE_BYTES);
    let to = [". ", ".\n", "。", "\n\n", "! ", "? "]
        .iter()
        .filter_map(|d| after.find(d))
        .min()
        .unwrap_or(after.len());
    let sentence = format!(
        "{}{}",
        before.get(from..).unwrap_or(""),
        after.get(..to).unwrap_or("")
    )
    .to_lowercase();
    words.iter().any(|w| sentence.contains(w.as_str()))
}

pattern!(NUMBERS, r"\d+(?:\.\d+)+");

/// Dates ("01.02.2024") and addresses ("10.0.0.1") look like versions; versions they are not.
fn plausible(found: &str) -> bool {
    let Some(re) = NUMBERS.as_ref() else {
        return true;
    };
    re.find_iter(found).all(|m| {
        let parts: Vec<&str> = m.as_str().split('.').collect();
        // "15.1.2507" is a build number: a year starts with 19 or 20.
        let date = matches!(parts.as_slice(), [d, m, y]
            if d.len() <= 2 && m.len() <= 2 && y.len() == 4 && (y.starts_with("19") || y.starts_with("20")));
        !date && parts.len() < 4
    })
}

pattern!(
    NAME_VERSION,
    r"([A-Za-z][A-Za-z0-9]*(?:[-_.+][A-Za-z0-9]+)*)\s+(v?\d{1,6}(?:\.(?:\d{1,6}|[xX*]))+(?:-?[A-Za-z]{1,8}\d{0,4}(?:\.\d{1,6})*)?)"
);

/// Names that are followed by versions of the reporter's environment, not of the product.
const ENVIRONMENT: &[&str] = &[
    "cvss",
    "score",
    "python",
    "php",
    "java",
    "node",
    "nodejs",
    "ruby",
    "perl",
    "go",
    "golang",
    "rust",
    "ubuntu",
    "debian",
    "fedora",
    "centos",
    "rhel",
    "alpine",
    "windows",
    "macos",
    "ios",
    "android",
    "linux",
    "kernel",
    "chrome",
    "chromium",
    "firefox",
    "safari",
    "edge",
    "openjdk",
    "jdk",
    "jre",
    "tls",
    "ssl",
    "http",
    "https",
    "oauth",
    "ipv4",
    "ipv6",
    "rfc",
    "step",
    "section",
    "burp",
    "curl",
    "docker",
    "kubernetes",
    "xcode",
    "gcc",
    "clang",
    "llvm",
];

/// "the importer in foo-lib 0.9.2 crashes": a version right after the component's name, or
/// after a word shaped like a product name (with a digit, `-`, `_` or an inner capital:
/// "foo-lib", "libxml2", "OpenSSL"). Plain words ("in 2.0", "nginx 1.25") are too often
/// something else and are left alone.
fn after_name(text: &str, component: Option<&str>) -> Option<String> {
    if let Some(name) = component
        .map(str::trim)
        .filter(|n| !n.is_empty() && n.len() <= 80)
        && let Some(re) = compile(&format!(
            r"(?i){}\s+(?:version\s+)?({VERSION})",
            regex::escape(name)
        ))
        && let Some(version) = re.captures(text).and_then(|c| c.get(1))
        && plausible(version.as_str())
    {
        return Some(version.as_str().to_owned());
    }
    let re = NAME_VERSION.as_ref()?;
    re.captures_iter(text).find_map(|c| {
        let name = c.get(1)?.as_str();
        let version = c.get(2)?.as_str();
        let lower = name.to_ascii_lowercase();
        let shaped = name.contains(['-', '_'])
            || name.chars().any(|ch| ch.is_ascii_digit())
            || name.chars().skip(1).any(|ch| ch.is_ascii_uppercase());
        (shaped && !ENVIRONMENT.contains(&lower.as_str()) && plausible(version))
            .then(|| version.to_owned())
    })
}

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::indexing_slicing)]
mod tests {
    use super::*;

    #[test]
    fn all_patterns_compile() {
        for re in [
            &VERSION_PROSE,
            &AFFECTS_LEAD,
            &PHRASES,
            &NUMBERS,
            &NAME_VERSION,
            &WHOLE_NUMBERS,
            &LISTED,
            &PLATFORM_LEADS,
        ] {
            assert!(re.is_some());
        }
    }

    #[test]
    fn versions_prose() {
        let cases: &[(&str, Option<&str>)] = &[
            (
                "It affects versions 1.2.3 through 1.4.0 of the library.",
                Some("versions 1.2.3 through 1.4.0"),
            ),
            ("Tested on version 2.x only", Some("version 2.x")),
            ("The bug affects 3.0 and earlier.", Some("3.0 and earlier")),
            ("Vulnerable: <= 4.1.2", Some("<= 4.1.2")),
            (
                "all versions prior to 2.3.1 are affected",
                Some("versions prior to 2.3.1"),
            ),
            ("versions 2.0 - 2.3.1", Some("versions 2.0 - 2.3.1")),
            ("version 5.1 and earlier", Some("version 5.1 and earlier")),
            ("CVSS >= 7.0 so please hurry", None),
            ("This affects 2 users", None),
            ("I used CVSS version 3.1 here", None),
            ("no versions mentioned", None),
        ];
        for (text, want) in cases {
            assert_eq!(english_phrase(text).as_deref(), *want, "text {text:?}");
        }
    }

    #[test]
    fn phrases_in_every_language() {
        let cases: &[(&str, Option<&str>)] = &[
            ("Betroffen sind 2.0 bis 2.2.", Some("2.0 bis 2.2")),
            ("影响 2.0 至 2.2 的所有部署", Some("2.0 至 2.2")),
            ("2.0〜2.4 で再現します", Some("2.0〜2.4")),
            ("affects 5.0 and newer", Some("5.0 and newer")),
            (
                "vulnerable from 1.1 to 1.3.2, fixed later",
                Some("1.1 to 1.3.2"),
            ),
            (
                "everything up to 1.8 is affected",
                Some("everything up to 1.8"),
            ),
            (
                "toutes les versions antérieures à 3.2",
                Some("toutes les versions antérieures à 3.2"),
            ),
            (
                "disponible desde 4.1 y posteriores",
                Some("4.1 y posteriores"),
            ),
            ("fino a 2.3 incluso", Some("fino a 2.3")),
            ("de 1.0 a 1.5", Some("1.0 a 1.5")),
            ("versie 3.1 en hoger", Some("3.1 en hoger")),
            ("все версии до 4.2", Some("все версии до 4.2")),
            ("від 1.2 до 1.9", Some("1.2 до 1.9")),
            (
                "wszystkie wersje przed 7.1",
                Some("wszystkie wersje przed 7.1"),
            ),
            ("3.1.4 及之前版本", Some("3.1.4 及之前版本")),
            ("2.3 以前のバージョン", Some("2.3 以前")),
            ("1.4 이하 버전", Some("1.4 이하")),
            ("< 2.0.4 is vulnerable", Some("< 2.0.4")),
            ("Frist: 01.02.2024 bis 31.03.2024", None),
            ("CVSS 7.0 to 8.9", None),
            ("bisher 2.0 bisschen", None),
            ("nothing here", None),
        ];
        for (text, want) in cases {
            assert_eq!(vocabulary_phrase(text).as_deref(), *want, "text {text:?}");
        }
    }

    #[test]
    fn versions_after_a_name() {
        let cases: &[(&str, Option<&str>, Option<&str>)] = &[
            ("the importer in foo-lib 0.9.2 crashes", None, Some("0.9.2")),
            ("OpenSSL 3.0.7 is used", None, Some("3.0.7")),
            ("tested with Python 3.11 on Ubuntu 22.04", None, None),
            ("request to 169.254.169.254 works", None, None),
            (
                "the Acme Portal 4.2.1 login",
                Some("Acme Portal"),
                Some("4.2.1"),
            ),
            (
                "Acme Portal version 4.3 and more",
                Some("acme portal"),
                Some("4.3"),
            ),
            ("in 2.0 the bug", None, None),
        ];
        for (text, component, want) in cases {
            assert_eq!(
                after_name(text, *component).as_deref(),
                *want,
                "text {text:?}"
            );
        }
    }
}
