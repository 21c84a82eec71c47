//! Label vocabulary: which words, in which languages and spellings, name which field, which
//! words state a severity level, which headings are document furniture, and the words that
//! join versions into ranges ("bis", "至", "and later").
//!
//! The words are data, one table per language in `vocab/<language>.txt`, so that a new
//! language is a new file (and a line in [`LANGUAGES`]). A table is lines of
//! `key: word | word | ...`; `#` starts a comment. Keys are the field names of
//! [`FieldName::as_str`], `severity.<level>` for the severity levels, `generic` for headings
//! that are not a title, `versions.range|before|later|earlier|all` for the version phrases
//! of [`super::versions`], and (issue 24) `versions.upto|below|from|until|and|fixed` for the
//! ranges and fixed versions of [`super::ranges`], `closing` for closing formulas,
//! `subject.generic` for mail subjects that name no report, and `severity.context` for the
//! words that make a severity word in a sentence a statement, `severity.noun` for the words
//! for "vulnerability" that a level right before or after states ("vulnerabilidade crítica",
//! "critical vulnerability"). Comments in the tables name
//! the advisory format a label comes from. Words are compared after the same normalisation as labels (lower
//! case, no emphasis, numbering, brackets or trailing colon, `-` and `_` as spaces). When two
//! tables give one spelling to different fields, the earlier table wins; a unit test makes sure
//! none do.

use std::collections::{HashMap, HashSet};
use std::sync::LazyLock;

use super::fields::{FieldName, Severity};

/// The languages recognised, English first (its spellings win any collision).
pub(crate) const LANGUAGES: &[(&str, &str)] = &[
    ("en", include_str!("vocab/en.txt")),
    ("de", include_str!("vocab/de.txt")),
    ("fr", include_str!("vocab/fr.txt")),
    ("es", include_str!("vocab/es.txt")),
    ("it", include_str!("vocab/it.txt")),
    ("pt", include_str!("vocab/pt.txt")),
    ("nl", include_str!("vocab/nl.txt")),
    ("ru", include_str!("vocab/ru.txt")),
    ("uk", include_str!("vocab/uk.txt")),
    ("pl", include_str!("vocab/pl.txt")),
    ("zh-Hans", include_str!("vocab/zh-Hans.txt")),
    ("zh-Hant", include_str!("vocab/zh-Hant.txt")),
    ("ja", include_str!("vocab/ja.txt")),
    ("ko", include_str!("vocab/ko.txt")),
];

/// Labels longer than this are prose, not labels; also bounds the work done per line.
const MAX_LABEL_BYTES: usize = 64;

/// Severity words longer than this (in characters) are not looked for inside a CJK run.
const MAX_SEVERITY_CHARS: usize = 6;

/// The words that make a version phrase, all languages together.
#[derive(Debug, Default)]
pub(crate) struct VersionWords {
    /// Between two versions: "to", "bis", "至", "〜".
    pub(crate) range: Vec<String>,
    /// Before one version: "before", "prior to", "vor".
    pub(crate) before: Vec<String>,
    /// After one version: "and later", "und neuer", "以降".
    pub(crate) later: Vec<String>,
    /// After one version: "and earlier", "及之前", "以前".
    pub(crate) earlier: Vec<String>,
    /// Leading a "before" phrase: "all versions", "everything".
    pub(crate) all: Vec<String>,
    /// Before one version, inclusive: "up to", "up to and including", "bis einschließlich".
    pub(crate) upto: Vec<String>,
    /// Before one version, opening a range: "from", "ab", "desde", "从".
    pub(crate) from: Vec<String>,
    /// After the last version of a range, inclusive: "까지", "まで", "inclusive".
    pub(crate) until: Vec<String>,
    /// Between two ranges of one field: "and", "und", "et", "和".
    pub(crate) and: Vec<String>,
    /// Before the versions stated as fixed: "fixed in", "patched versions", "修复版本".
    pub(crate) fixed: Vec<String>,
    /// After one version, exclusive: "未満", "미만", "之前" ("3.6.0 之前" is fixed in 3.6.0).
    pub(crate) below: Vec<String>,
    /// Anywhere in a sentence, making its versions fixed ones: "lo corrige", "lost het op".
    pub(crate) fixes: Vec<String>,
    /// Before platforms named as the affected list: "all supported editions of".
    pub(crate) platforms: Vec<String>,
    /// In a sentence whose versions are not affected: "are not affected", "nicht betroffen".
    pub(crate) unaffected: Vec<String>,
}

#[derive(Debug, Default)]
struct Vocabulary {
    labels: HashMap<String, FieldName>,
    severity: HashMap<String, Severity>,
    generic: HashSet<String>,
    versions: VersionWords,
    /// Closing formulas that end a report's content: "regards", "Abraços", "敬祝 順心".
    closing: HashSet<String>,
    /// Mail subjects that name no report: "Security report", "Sicherheitslücke", "安全漏洞报告".
    generic_subjects: HashSet<String>,
    /// Words that make a severity word near them a statement: "rated", "eingestuft", "评为".
    severity_context: Vec<String>,
    /// Words for a vulnerability that a level next to them qualifies: "vulnerability",
    /// "vulnerabilidade", "уязвимость".
    severity_nouns: HashSet<String>,
    /// The `versions.fixed` words normalised as labels, for "Fixed in:" key lines.
    fixed_labels: HashSet<String>,
    /// Closing formulas of four or more CJK characters, which may end a longer line.
    cjk_closing: Vec<String>,
}

/// What a vocabulary line gives words for.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Entry {
    Field(FieldName),
    Severity(Severity),
    Generic,
    Range,
    Before,
    Later,
    Earlier,
    All,
    UpTo,
    Below,
    From,
    Until,
    And,
    Fixed,
    Fixes,
    Platforms,
    Unaffected,
    Closing,
    GenericSubject,
    SeverityContext,
    SeverityNoun,
}

fn entry(key: &str) -> Option<Entry> {
    let entry = match key {
        "severity.critical" => Entry::Severity(Severity::Critical),
        "severity.high" => Entry::Severity(Severity::High),
        "severity.medium" => Entry::Severity(Severity::Medium),
        "severity.low" => Entry::Severity(Severity::Low),
        "severity.none" => Entry::Severity(Severity::None),
        "generic" => Entry::Generic,
        "versions.range" => Entry::Range,
        "versions.before" => Entry::Before,
        "versions.later" => Entry::Later,
        "versions.earlier" => Entry::Earlier,
        "versions.all" => Entry::All,
        "versions.upto" => Entry::UpTo,
        "versions.below" => Entry::Below,
        "versions.from" => Entry::From,
        "versions.until" => Entry::Until,
        "versions.and" => Entry::And,
        "versions.fixed" => Entry::Fixed,
        "versions.fixes" => Entry::Fixes,
        "versions.platforms" => Entry::Platforms,
        "versions.unaffected" => Entry::Unaffected,
        "closing" => Entry::Closing,
        "subject.generic" => Entry::GenericSubject,
        "severity.context" => Entry::SeverityContext,
        "severity.noun" => Entry::SeverityNoun,
        field => Entry::Field(field.parse().ok()?),
    };
    Some(entry)
}

/// One line of a table: its entry and words; `None` for blank lines, comments and lines that do
/// not parse (the unit tests make sure there are none of the last kind).
pub(crate) fn parse_line(line: &str) -> Option<(Entry, Vec<&str>)> {
    let line = line.trim();
    if line.is_empty() || line.starts_with('#') {
        return None;
    }
    let (key, words) = line.split_once(':')?;
    let words = words
        .split('|')
        .map(str::trim)
        .filter(|w| !w.is_empty())
        .collect();
    Some((entry(key.trim())?, words))
}

impl Vocabulary {
    fn load(languages: &[(&str, &str)]) -> Vocabulary {
        let mut v = Vocabulary::default();
        for (_, table) in languages {
            for (entry, words) in table.lines().filter_map(parse_line) {
                for word in words {
                    v.add(entry, word);
                }
            }
        }
        v
    }

    fn add(&mut self, entry: Entry, word: &str) {
        let key = normalise(word);
        // Version words are matched as written (only lower-cased), inside running text.
        let phrase = word.to_lowercase();
        match entry {
            Entry::Field(field) => {
                // "the severity of this flaw is critical": a severity label in a sentence
                // states the level as well.
                if field == FieldName::Severity && word.chars().count() >= 4 {
                    self.severity_context.push(phrase);
                }
                self.labels.entry(key).or_insert(field);
            }
            Entry::Severity(level) => {
                self.severity.entry(key).or_insert(level);
            }
            Entry::Generic => {
                self.generic.insert(key);
            }
            Entry::Range => self.versions.range.push(phrase),
            Entry::Before => self.versions.before.push(phrase),
            Entry::Later => self.versions.later.push(phrase),
            Entry::Earlier => self.versions.earlier.push(phrase),
            Entry::All => self.versions.all.push(phrase),
            Entry::UpTo => self.versions.upto.push(phrase),
            Entry::Below => self.versions.below.push(phrase),
            Entry::From => self.versions.from.push(phrase),
            Entry::Until => self.versions.until.push(phrase),
            Entry::And => self.versions.and.push(phrase),
            Entry::Fixes => self.versions.fixes.push(phrase),
            Entry::Platforms => self.versions.platforms.push(phrase),
            Entry::Unaffected => self.versions.unaffected.push(phrase),
            Entry::Fixed => {
                self.fixed_labels.insert(key);
                self.versions.fixed.push(phrase);
            }
            Entry::Closing => {
                let key = closing_key(word);
                if key.chars().count() >= 4 && key.chars().all(is_cjk) {
                    self.cjk_closing.push(key.clone());
                }
                self.closing.insert(key);
            }
            Entry::GenericSubject => {
                self.generic_subjects.insert(key);
            }
            Entry::SeverityContext => self.severity_context.push(phrase),
            Entry::SeverityNoun => {
                self.severity_nouns.insert(phrase);
            }
        }
    }
}

static VOCABULARY: LazyLock<Vocabulary> = LazyLock::new(|| Vocabulary::load(LANGUAGES));

/// The version phrase words of every language.
pub(crate) fn version_words() -> &'static VersionWords {
    &VOCABULARY.versions
}

/// Looks a candidate label up, forgiving case, Markdown emphasis, numbering, brackets, trailing
/// colons, hyphenation and a trailing parenthetical such as "(PoC)" or "(optional)".
pub(crate) fn lookup(raw: &str) -> Option<FieldName> {
    if raw.len() > MAX_LABEL_BYTES * 2 {
        return None;
    }
    let key = normalise(raw);
    // An inner colon means "Label: value", which the caller splits; never a label by itself.
    if key.is_empty() || key.len() > MAX_LABEL_BYTES || key.contains([':', '：']) {
        return None;
    }
    if let Some(field) = exact(&key) {
        return Some(field);
    }
    // "Vulnerability type / CWE", "Impact & severity": the first recognisable part names it.
    if key.contains('/') || key.contains('&') {
        return key.split(['/', '&']).map(str::trim).find_map(exact);
    }
    None
}

fn normalise(raw: &str) -> String {
    let marks: &[char] = &[
        '*', '_', '`', '#', ':', '：', ' ', '\t', '[', ']', '【', '】', '［', '］', '〔', '〕',
        '「', '」', '\u{3000}',
    ];
    let mut s = raw.trim().trim_matches(marks);
    s = strip_numbering(s).trim_matches(marks);
    let mut key = s
        .to_lowercase()
        .replace(['-', '_', '\u{a0}', '\u{3000}'], " ")
        .replace('’', "'");
    // Trailing parenthetical: "Proof of Concept (PoC)", "Affected version(s)", "影响版本（必填）".
    if key.ends_with(')')
        && let Some(open) = key.rfind('(')
    {
        key.truncate(open);
    }
    if key.ends_with('）')
        && let Some(open) = key.rfind('（')
    {
        key.truncate(open);
    }
    key.split_whitespace().collect::<Vec<_>>().join(" ")
}

/// Strips leading section numbering: "1.", "2)", "(3)", "1.2", and the CJK forms "１．",
/// "（1）", "一、", "①". "IV." is not handled because Roman numerals collide with words ("I",
/// "V").
pub(crate) fn strip_numbering(s: &str) -> &str {
    let t = s.trim_start();
    if let Some(rest) = strip_cjk_numbering(t) {
        return rest;
    }
    let t2 = t.strip_prefix('(').unwrap_or(t);
    let digits = t2.bytes().take_while(u8::is_ascii_digit).count();
    if digits == 0 || digits > 3 {
        return s;
    }
    let mut rest = t2.get(digits..).unwrap_or("");
    // Sub-numbering: 1.2, 1.2.3
    while let Some(r) = rest.strip_prefix('.') {
        let d = r.bytes().take_while(u8::is_ascii_digit).count();
        if d == 0 {
            break;
        }
        rest = r.get(d..).unwrap_or("");
    }
    match rest.strip_prefix(['.', ')', ':']) {
        Some(r) if r.starts_with([' ', '\t']) => r.trim_start(),
        // "1.概要": CJK text needs no space after the number.
        Some(r) if r.chars().next().is_some_and(is_cjk) => r,
        None if rest.starts_with([' ', '\t']) => rest.trim_start(),
        _ => s,
    }
}

/// "１．", "（１）", "（1）", "一、", "第三、", "①" at the start of `t`.
fn strip_cjk_numbering(t: &str) -> Option<&str> {
    let mut chars = t.char_indices().peekable();
    let (_, first) = *chars.peek()?;
    if ('\u{2460}'..='\u{2473}').contains(&first) {
        let rest = t.get(first.len_utf8()..)?;
        return Some(rest.trim_start());
    }
    let paren = first == '（';
    if paren {
        chars.next();
    }
    let mut end = None;
    let mut count = 0;
    while let Some(&(i, c)) = chars.peek() {
        if ('０'..='９').contains(&c) || c.is_ascii_digit() || "一二三四五六七八九十第".contains(c)
        {
            count += 1;
            chars.next();
            if count > 3 {
                return None;
            }
            continue;
        }
        let closes = if paren {
            c == '）'
        } else {
            "、．.)）".contains(c)
        };
        if count > 0 && closes {
            end = Some(i + c.len_utf8());
        }
        break;
    }
    let rest = t.get(end?..)?;
    // Only a CJK-style number counts here; "1. Title" is left to the ASCII rules above.
    let cjk = t.chars().take(count + 2).any(|c| !c.is_ascii());
    if !cjk || rest.trim().is_empty() {
        return None;
    }
    Some(rest.trim_start())
}

/// Han, kana and Hangul: scripts written without spaces between words (Hangul has spaces but
/// its labels are short words that need no space to be recognised either).
pub(crate) fn is_cjk(c: char) -> bool {
    matches!(c,
        '\u{3040}'..='\u{30ff}'
        | '\u{3400}'..='\u{4dbf}'
        | '\u{4e00}'..='\u{9fff}'
        | '\u{f900}'..='\u{faff}'
        | '\u{ac00}'..='\u{d7af}'
        | '\u{1100}'..='\u{11ff}'
        | '\u{3130}'..='\u{318f}')
}

fn exact(key: &str) -> Option<FieldName> {
    // "CVSS", "CVSS v3.1 vector", "CVSS 4.0 score"; but "CVSS:3.1/AV:N/..." is a vector.
    if key.starts_with("cvss")
        && key
            .chars()
            .all(|c| c.is_alphanumeric() || c == ' ' || c == '.')
    {
        return Some(FieldName::CvssVector);
    }
    VOCABULARY.labels.get(key).copied()
}

/// The first severity word in `value` (a severity field's value), in any language: "High",
/// "hoch", "élevée", "高危", "높음".
pub(crate) fn severity_in(value: &str) -> Option<Severity> {
    // "'높음'으로", "'high'": a quoted level is still the level; an apostrophe inside a word
    // ("it's") stays part of it.
    let words: Vec<&str> = value
        .split(|c: char| !c.is_alphanumeric() && c != '\'')
        .map(|w| w.trim_matches('\''))
        .filter(|w| !w.is_empty())
        .collect();
    for (i, word) in words.iter().enumerate() {
        // Two-word levels first: "sehr hoch" is critical where "hoch" alone is high.
        if let Some(next) = words.get(i + 1)
            && let Some(level) = severity_word(&format!("{word} {next}"))
        {
            return Some(level);
        }
        if let Some(level) = severity_word(word) {
            return Some(level);
        }
        if word.chars().next().is_some_and(is_cjk)
            && let Some(level) = severity_prefix(word)
        {
            return Some(level);
        }
    }
    None
}

fn severity_word(word: &str) -> Option<Severity> {
    VOCABULARY.severity.get(lower(word).as_ref()).copied()
}

/// `word` in lower case, copied only when it has a capital: these look-ups run once per word
/// of a report.
fn lower(word: &str) -> std::borrow::Cow<'_, str> {
    if word.chars().any(char::is_uppercase) {
        std::borrow::Cow::Owned(word.to_lowercase())
    } else {
        std::borrow::Cow::Borrowed(word)
    }
}

/// CJK levels run on into the next word: "高危漏洞", "中等偏高", "긴급입니다". Longest prefix
/// wins. A Hangul level of one syllable ("상", "중", "하") is a level only as a whole word:
/// as a prefix it starts too many other words ("하는", "중요", "상태").
fn severity_prefix(word: &str) -> Option<Severity> {
    let ends: Vec<usize> = word
        .char_indices()
        .map(|(i, c)| i + c.len_utf8())
        .take(MAX_SEVERITY_CHARS)
        .collect();
    let hangul = word.chars().next().is_some_and(is_hangul);
    ends.iter()
        .enumerate()
        .rev()
        .filter(|(n, _)| !hangul || *n > 0)
        .find_map(|(_, end)| word.get(..*end).and_then(severity_word))
}

fn is_hangul(c: char) -> bool {
    matches!(c, '\u{ac00}'..='\u{d7af}' | '\u{1100}'..='\u{11ff}' | '\u{3130}'..='\u{318f}')
}

/// Fields whose values are short one-liners; their key lines do not swallow following prose.
pub(crate) fn is_short(field: FieldName) -> bool {
    !matches!(
        field,
        FieldName::Description
            | FieldName::StepsToReproduce
            | FieldName::ProofOfConcept
            | FieldName::Impact
            | FieldName::SuggestedFix
    )
}

/// Level-one headings that are document furniture rather than a report title.
pub(crate) fn is_generic_heading(text: &str) -> bool {
    let key = normalise(text);
    VOCABULARY.generic.contains(&key) || VOCABULARY.generic_subjects.contains(&key)
}

/// A mail subject that names no particular report ("Security report", "Sicherheitslücke",
/// "安全漏洞报告", "脆弱性のご報告"): the body's own title is better.
pub(crate) fn is_generic_subject(subject: &str) -> bool {
    let key = normalise(subject.trim_end_matches(['.', '!', '?', '。', '！']));
    VOCABULARY.generic_subjects.contains(&key) || VOCABULARY.generic.contains(&key)
}

/// Closing formulas compare lower-cased, without trailing punctuation and with spaces collapsed.
fn closing_key(text: &str) -> String {
    let t = text
        .trim()
        .trim_end_matches([',', '.', '!', '，', '。', '！', '、'])
        .to_lowercase();
    t.split_whitespace().collect::<Vec<_>>().join(" ")
}

/// A line that is a closing formula in any language ("Best regards,", "Abraços", "敬祝 順心",
/// "Mit freundlichen Grüßen").
pub(crate) fn is_closing(line: &str) -> bool {
    let key = closing_key(line);
    if key.is_empty() || key.chars().count() > 40 {
        return false;
    }
    // "以上、よろしくお願いいたします": a CJK closing ends the line.
    VOCABULARY.closing.contains(&key)
        || (key.chars().count() <= 30
            && key.chars().next_back().is_some_and(is_cjk)
            && VOCABULARY
                .cjk_closing
                .iter()
                .any(|w| key.ends_with(w.as_str())))
}

/// "Fixed in", "Patched versions", "修复版本" as the key of a line.
pub(crate) fn is_fixed_label(raw: &str) -> bool {
    if raw.len() > MAX_LABEL_BYTES * 2 {
        return false;
    }
    VOCABULARY.fixed_labels.contains(&normalise(raw))
}

/// A word for a vulnerability that a level next to it qualifies ("vulnerability",
/// "Schwachstelle", "уязвимость"); `word` as written, any case.
pub(crate) fn is_severity_noun(word: &str) -> bool {
    VOCABULARY.severity_nouns.contains(lower(word).as_ref())
}

/// One severity word (a level of one word), any case: "crítica", "High".
pub(crate) fn severity_of_word(word: &str) -> Option<Severity> {
    severity_word(word)
}

/// Words that make a nearby severity word a statement ("rated", "eingestuft", "评为").
pub(crate) fn severity_context() -> &'static [String] {
    &VOCABULARY.severity_context
}

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::indexing_slicing)]
mod tests {
    use super::*;

    #[test]
    fn lookup_table() {
        let cases: &[(&str, Option<FieldName>)] = &[
            ("Title", Some(FieldName::Title)),
            ("**Title:**", Some(FieldName::Title)),
            ("  __Impact__ ", Some(FieldName::Impact)),
            ("1. Steps to Reproduce:", Some(FieldName::StepsToReproduce)),
            ("2) Description", Some(FieldName::Description)),
            ("(3) Summary", Some(FieldName::Description)),
            ("1.2 Details", Some(FieldName::Description)),
            ("Proof of Concept (PoC)", Some(FieldName::ProofOfConcept)),
            ("Proof-of-Concept", Some(FieldName::ProofOfConcept)),
            ("PoC", Some(FieldName::ProofOfConcept)),
            ("Affected Version(s)", Some(FieldName::AffectedVersions)),
            ("CVSS v3.1 Vector", Some(FieldName::CvssVector)),
            ("CVSS", Some(FieldName::CvssVector)),
            (
                "Vulnerability Type / CWE",
                Some(FieldName::VulnerabilityType),
            ),
            ("Remediation", Some(FieldName::SuggestedFix)),
            ("Reporter", Some(FieldName::CreditName)),
            ("E-mail", Some(FieldName::Contact)),
            ("References", None),
            ("Host", None),
            ("Location", None),
            ("Step 1", None),
            ("", None),
            ("**", None),
        ];
        for (raw, want) in cases {
            assert_eq!(lookup(raw), *want, "label {raw:?}");
        }
    }

    #[test]
    fn every_table_parses_and_names_every_field_and_level() {
        let levels = [
            Severity::None,
            Severity::Low,
            Severity::Medium,
            Severity::High,
            Severity::Critical,
        ];
        for (language, table) in LANGUAGES {
            let mut entries = Vec::new();
            for line in table.lines() {
                let t = line.trim();
                if t.is_empty() || t.starts_with('#') {
                    continue;
                }
                let (entry, words) = parse_line(t)
                    .unwrap_or_else(|| unreachable!("{language}: line does not parse: {t:?}"));
                let matched_as_labels =
                    matches!(entry, Entry::Field(_) | Entry::Severity(_) | Entry::Generic);
                for word in &words {
                    assert!(
                        !matched_as_labels || !normalise(word).is_empty(),
                        "{language}: empty word in {t:?}"
                    );
                }
                entries.push((entry, words.len()));
            }
            let has = |e: Entry| entries.iter().any(|(x, n)| *x == e && *n > 0);
            for field in FieldName::ALL {
                assert!(
                    has(Entry::Field(field)),
                    "{language}: no labels for {field}"
                );
            }
            for level in levels {
                assert!(
                    has(Entry::Severity(level)),
                    "{language}: no words for {level}"
                );
            }
            for e in [
                Entry::Generic,
                Entry::Range,
                Entry::Later,
                Entry::Earlier,
                Entry::All,
            ] {
                assert!(has(e), "{language}: no words for {e:?}");
            }
        }
    }

    #[test]
    fn no_spelling_names_two_fields_or_two_levels() {
        let mut fields: HashMap<String, (FieldName, &str)> = HashMap::new();
        let mut levels: HashMap<String, (Severity, &str)> = HashMap::new();
        for (language, table) in LANGUAGES {
            for (entry, words) in table.lines().filter_map(parse_line) {
                for word in words {
                    let key = normalise(word);
                    match entry {
                        Entry::Field(f) => {
                            let (seen, by) = *fields.entry(key.clone()).or_insert((f, language));
                            assert_eq!(
                                seen, f,
                                "{word:?} ({language}) already names {seen} ({by})"
                            );
                            // A label that is also a generic heading would never be a title.
                            assert!(!VOCABULARY.generic.contains(&key), "{word:?} is generic");
                        }
                        Entry::Severity(l) => {
                            let (seen, by) = *levels.entry(key).or_insert((l, language));
                            assert_eq!(
                                seen, l,
                                "{word:?} ({language}) already means {seen} ({by})"
                            );
                        }
                        _ => {}
                    }
                }
            }
        }
    }

    #[test]
    fn labels_in_every_language() {
        let cases: &[(&str, Option<FieldName>)] = &[
            ("Betroffene Versionen", Some(FieldName::AffectedVersions)),
            ("Schweregrad", Some(FieldName::Severity)),
            ("Type de vulnérabilité", Some(FieldName::VulnerabilityType)),
            ("Versiones afectadas", Some(FieldName::AffectedVersions)),
            ("Passi per riprodurre", Some(FieldName::StepsToReproduce)),
            ("Prova de conceito", Some(FieldName::ProofOfConcept)),
            ("Getroffen versies", Some(FieldName::AffectedVersions)),
            ("Уязвимые версии", Some(FieldName::AffectedVersions)),
            ("Кроки відтворення", Some(FieldName::StepsToReproduce)),
            ("Podatne wersje", Some(FieldName::AffectedVersions)),
            ("【影响版本】", Some(FieldName::AffectedVersions)),
            ("修復建議", Some(FieldName::SuggestedFix)),
            ("１．概要", Some(FieldName::Description)),
            ("一、漏洞描述", Some(FieldName::Description)),
            ("① 再現手順", Some(FieldName::StepsToReproduce)),
            ("（2）影響", Some(FieldName::Impact)),
            ("영향받는 버전", Some(FieldName::AffectedVersions)),
            ("Пом’якшення", Some(FieldName::SuggestedFix)),
            ("Vecteur CVSS", Some(FieldName::CvssVector)),
            ("CVSS-Vektor", Some(FieldName::CvssVector)),
            ("影响版本（必填）", Some(FieldName::AffectedVersions)),
            ("Referenzen", None),
            ("Notiz", None),
        ];
        for (raw, want) in cases {
            assert_eq!(lookup(raw), *want, "label {raw:?}");
        }
    }

    #[test]
    fn severity_words_in_every_language() {
        let cases: &[(&str, Option<Severity>)] = &[
            ("High", Some(Severity::High)),
            ("Hoch (CVSS 8.1)", Some(Severity::High)),
            ("sehr hoch", Some(Severity::Critical)),
            ("Élevée", Some(Severity::High)),
            ("crítica", Some(Severity::Critical)),
            ("media", Some(Severity::Medium)),
            ("Baixa", Some(Severity::Low)),
            ("laag", Some(Severity::Low)),
            ("Высокая", Some(Severity::High)),
            ("критична", Some(Severity::Critical)),
            ("średnia", Some(Severity::Medium)),
            ("高危", Some(Severity::High)),
            ("高危漏洞", Some(Severity::High)),
            ("严重（9.8）", Some(Severity::Critical)),
            ("中風險", Some(Severity::Medium)),
            ("緊急", Some(Severity::Critical)),
            ("높음", Some(Severity::High)),
            ("highway", None),
            ("unknown", None),
            // Issue 24: a quoted level is the level.
            ("위험도는 '높음'으로", Some(Severity::High)),
            ("rated 'medium'", Some(Severity::Medium)),
            ("« critique »", Some(Severity::Critical)),
            ("it's low", Some(Severity::Low)),
            // A one-syllable Hangul level is a whole word, not the start of another one.
            ("긴급입니다", Some(Severity::Critical)),
            ("상", Some(Severity::High)),
            ("하는 경우", None),
            ("상태 중요", Some(Severity::High)),
            // Issue 24: the inflected levels of sentences ("als wichtig eingestuft",
            // "jest średniej wagi", "как среднюю", "як критичну").
            ("wichtig", Some(Severity::High)),
            ("średniej", Some(Severity::Medium)),
            ("среднюю", Some(Severity::Medium)),
            ("критичну", Some(Severity::Critical)),
        ];
        for (value, want) in cases {
            assert_eq!(severity_in(value), *want, "value {value:?}");
        }
    }

    #[test]
    fn cjk_numbering() {
        assert_eq!(strip_numbering("１．概要"), "概要");
        assert_eq!(strip_numbering("1.概要"), "概要");
        assert_eq!(strip_numbering("二、影响版本"), "影响版本");
        assert_eq!(strip_numbering("③ 対策"), "対策");
        assert_eq!(strip_numbering("3月10日"), "3月10日");
        assert_eq!(strip_numbering("一"), "一");
    }

    #[test]
    fn overlong_labels_are_rejected_cheaply() {
        let long = "description ".repeat(1000);
        assert_eq!(lookup(&long), None);
    }

    #[test]
    fn numbering_is_stripped_only_when_followed_by_space() {
        assert_eq!(strip_numbering("1. Title"), "Title");
        assert_eq!(strip_numbering("12) x"), "x");
        assert_eq!(strip_numbering("1.2.3 x"), "x");
        assert_eq!(strip_numbering("2.0 is affected"), "is affected");
        assert_eq!(strip_numbering("1.x"), "1.x");
        assert_eq!(strip_numbering("2024 report"), "2024 report");
        assert_eq!(strip_numbering("1234. x"), "1234. x");
    }

    #[test]
    fn generic_headings() {
        assert!(is_generic_heading("References"));
        assert!(is_generic_heading("Vulnerability Report"));
        assert!(!is_generic_heading("SQL injection in login"));
    }
}
