//! Heuristics for unstructured text: subject cleaning, severity words, version phrases,
//! vulnerability type names and numbered step lists. Used as fallbacks when the report does not
//! state a field under a label.
//!
//! All patterns are `regex` crate automata (no backtracking), use ASCII word boundaries so the
//! fast DFA engines stay usable on non-ASCII text, and are applied to whole texts at most a
//! constant number of times.

use std::sync::LazyLock;

use regex::Regex;

use super::classify::{Kind, classify, heading_shaped};
use super::fields::{Fields, Severity};
use super::sections::Parsed;
use super::text::{Line, compile, indent_width, pattern, prefix, suffix, trim_block};
use super::{labels, versions};

/// The title line of a body whose Subject names no report: the first heading (Markdown,
/// setext, HTML `<h1>`-`<h3>` as converted, "■" symbols) that is not document furniture,
/// else a short first line standing alone as a paragraph.
pub(crate) fn body_title(parsed: &Parsed<'_>, lines: &[Line<'_>]) -> Option<String> {
    if let Some(heading) = &parsed.first_heading
        && !heading.contains([':', '：'])
    {
        let t = clean_title(heading);
        if !t.is_empty() {
            return Some(t);
        }
    }
    // The first one-line paragraph among the first few, skipping markings ("TLP:CLEAR").
    let mut paragraphs = 0;
    let mut i = 0;
    while let Some(line) = lines.get(i) {
        if line.is_blank() {
            i += 1;
            continue;
        }
        paragraphs += 1;
        if paragraphs > 3 {
            break;
        }
        let alone = lines.get(i + 1).is_none_or(Line::is_blank);
        let t = line.text.trim();
        // "TLP:CLEAR", and a bulletin's number line above its title ("Bulletin de sécurité
        // Kestrel KS26-007 - Critique").
        let marking = t.to_ascii_uppercase().starts_with("TLP") || bulletin_line(t);
        if alone && !marking && !line.code && title_line(t) {
            return Some(clean_title(t)).filter(|t| !t.is_empty());
        }
        if !alone || !marking {
            break;
        }
        i += 1;
    }
    None
}

/// Words of a bulletin line after its generic name: the vendor, the number, the level.
const BULLETIN_REST_WORDS: usize = 4;

/// A bulletin's number line, which names a publication, not the flaw: a generic subject of
/// any language ("Bulletin de sécurité", "Boletim de Segurança", "Security Advisory") and
/// then only a few capitalised words or numbers, one an identifier ("Kestrel KS26-007 -
/// Critique", "Farol FS26-008"). "Vulnerability CVE-2026-1234 in the parser" is a title.
pub(crate) fn bulletin_line(t: &str) -> bool {
    let words: Vec<&str> = t.split_whitespace().take(16).collect();
    (1..=4).any(|n| {
        let (Some(head), Some(rest)) = (words.get(..n), words.get(n..)) else {
            return false;
        };
        let rest: Vec<&str> = rest
            .iter()
            .copied()
            .filter(|w| !matches!(*w, "-" | "–" | "—" | "|" | ":" | "/"))
            .collect();
        let identifier = |w: &&str| {
            w.chars().any(|c| c.is_ascii_digit())
                && w.chars().any(|c| c.is_alphabetic() || c == '-')
        };
        !rest.is_empty()
            && rest.len() <= BULLETIN_REST_WORDS
            && rest.iter().all(|w| {
                w.chars()
                    .next()
                    .is_some_and(|c| c.is_uppercase() || c.is_ascii_digit())
            })
            && rest.iter().any(identifier)
            && labels::is_generic_subject(&head.join(" "))
    })
}

/// A line that can be a report's title: not a label line, not a sentence, not a greeting.
fn title_line(t: &str) -> bool {
    matches!(classify(t), Kind::Text)
        && heading_shaped(t)
        && t.chars().count() <= 120
        && !t.ends_with([':', '：', '。'])
        && !labels::is_generic_heading(t)
        && !labels::is_closing(t)
}

pattern!(
    REPLY_PREFIX,
    r"(?i)^(?:re|fw|fwd|aw|wg|sv|vs|tr|antw|ref|rif|odp)\s*(?:\[\d{1,4}\]|\(\d{1,4}\))?\s*[:：]\s*"
);
pattern!(BRACKET_TAG, r"^(?:\[[^\]\n]{0,64}\]|【[^】\n]{0,64}】)\s*");
pattern!(
    REPORT_PREFIX,
    r"(?i)^(?:new\s+)?(?:(?:security|vulnerability|vuln|bug|responsible|coordinated)\s+)?(?:vulnerability|vuln|security\s+issue|security\s+bug|security\s+problem|issue|bug|disclosure|report|advisory|finding)(?:\s+(?:report|disclosure|submission|notification))?(?:\s*[:：]|\s+[-–—])\s*"
);

/// Cleans a mail subject into a title: reply/forward markers, `[TAG]`s and a leading
/// "Vulnerability report:"-like prefix go; the rest is kept verbatim.
pub(crate) fn clean_subject(subject: &str) -> Option<String> {
    let collapsed = subject.split_whitespace().collect::<Vec<_>>().join(" ");
    let mut s = collapsed.as_str();
    for _ in 0..16 {
        let before = s.len();
        for re in [&*REPLY_PREFIX, &*BRACKET_TAG].into_iter().flatten() {
            if let Some(m) = re.find(s) {
                let rest = s.get(m.end()..).unwrap_or("");
                if !rest.trim().is_empty() {
                    s = rest;
                }
            }
        }
        if s.len() == before {
            break;
        }
    }
    let s = clean_title(s);
    if s.is_empty() { None } else { Some(s) }
}

/// Strips a "Vulnerability report:"-style prefix from a title when something remains after it.
pub(crate) fn clean_title(title: &str) -> String {
    let t = title.split_whitespace().collect::<Vec<_>>().join(" ");
    if let Some(re) = &*REPORT_PREFIX
        && let Some(m) = re.find(&t)
        && let Some(rest) = t.get(m.end()..)
        && rest.chars().filter(|c| c.is_alphanumeric()).count() >= 3
    {
        return rest.trim().to_owned();
    }
    t
}

pattern!(
    SCORE_NUMBER,
    r"(?-u:\b)(10(?:[.,]0)?|[0-9][.,][0-9])(?-u:\b)"
);

/// Severity from the value of a "Severity:" field: the first severity word in any language,
/// else a 0-10 score.
pub(crate) fn severity_from_value(value: &str) -> Option<Severity> {
    let head = prefix(value, 4096);
    labels::severity_in(head).or_else(|| severity_from_number(head))
}

/// Severity from a bare CVSS-style score ("8.1", "9.8/10") using the v3 bands. Numbers that are
/// CVSS versions ("CVSS 3.1", "v3.0") are skipped.
pub(crate) fn severity_from_number(value: &str) -> Option<Severity> {
    let head = prefix(value, 4096);
    let re = SCORE_NUMBER.as_ref()?;
    for m in re.find_iter(head) {
        let before = head.get(..m.start()).unwrap_or("");
        let ctx = suffix(before, 8).to_ascii_lowercase();
        let ctx = ctx.trim_end();
        if ctx.ends_with("cvss") || ctx.ends_with("cvss:") || ctx.ends_with('v') {
            continue;
        }
        let Ok(score) = m.as_str().replace(',', ".").parse::<f64>() else {
            continue;
        };
        return Some(match score {
            s if s <= 0.0 => Severity::None,
            s if s < 4.0 => Severity::Low,
            s if s < 7.0 => Severity::Medium,
            s if s < 9.0 => Severity::High,
            _ => Severity::Critical,
        });
    }
    None
}

pattern!(
    SEVERITY_PROSE,
    r"(?ix)
      (?-u:\b)severity(?:\s+(?:rating|level|score|assessment))?\s*(?:is|of|:|=|-|would\s+be|should\s+be|as)?\s*(?:\*\*|__)?\s*(?:considered\s+)?(?:an?\s+)?(critical|high|medium|moderate|low|none|informational)(?-u:\b)
    | (?-u:\b)(critical|high|medium|moderate|low)[\s-]+(?:severity|risk)(?-u:\b)
    | (?-u:\b)rated\s+(?:as\s+)?(?:an?\s+)?(critical|high|medium|moderate|low)(?-u:\b)
    | (?-u:\b)(?:is|as|it's|its|this\s+is)\s+an?\s+(critical|high|medium|moderate|low)[\s-]+(?:(?:severity|risk|impact)\s+)?(?:security\s+)?(?:issue|vulnerability|vuln|bug|flaw|finding|problem|weakness)(?-u:\b)
    "
);

/// Severity stated in running prose: "this is a critical issue", "severity: high",
/// "High severity", "rated medium". First statement wins.
pub(crate) fn severity_from_prose(text: &str) -> Option<Severity> {
    let caps = SEVERITY_PROSE.as_ref()?.captures(text)?;
    caps.iter()
        .skip(1)
        .flatten()
        .find_map(|m| labels::severity_in(m.as_str()))
}

/// How far (in characters) a severity word may stand from the word that makes it a statement.
const CONTEXT_CHARS: usize = 40;

/// Severity stated in a sentence of any language: a `severity.context` word ("rated",
/// "eingestuft", "classée", "评为") with a severity word next to it, after it ("rated critical
/// by the vendor", "被评为高危") or, failing that, just before it ("als kritisch eingestuft").
pub(crate) fn severity_in_sentence(text: &str) -> Option<Severity> {
    let text = prefix(text, 64 * 1024);
    let lower = text.to_lowercase();
    if lower.len() != text.len() {
        // Case folding changed byte offsets: read the lower-cased text alone.
        return severity_in_sentence_of(&lower);
    }
    severity_in_sentence_of(&lower)
}

/// All `severity.context` words as one automaton, longest first at any position.
static CONTEXT_WORDS: LazyLock<Option<Regex>> = LazyLock::new(|| {
    let mut words: Vec<&String> = labels::severity_context()
        .iter()
        .filter(|w| !w.trim().is_empty())
        .collect();
    words.sort_by_key(|w| std::cmp::Reverse(w.len()));
    let parts: Vec<String> = words.iter().map(|w| regex::escape(w)).collect();
    compile(&parts.join("|"))
});

fn severity_in_sentence_of(lower: &str) -> Option<Severity> {
    let re = CONTEXT_WORDS.as_ref()?;
    for m in re.find_iter(lower) {
        let (start, end, word) = (m.start(), m.end(), m.as_str());
        {
            let before = lower.get(..start).and_then(|b| b.chars().next_back());
            let after = lower.get(end..).and_then(|a| a.chars().next());
            let lettered = word
                .chars()
                .next()
                .is_some_and(|c| c.is_alphabetic() && !labels::is_cjk(c));
            let glued =
                |c: Option<char>| c.is_some_and(|c| c.is_alphanumeric() && !labels::is_cjk(c));
            if lettered && (glued(before) || glued(after)) {
                continue;
            }
            let ahead = sentence(
                prefix(lower.get(end..).unwrap_or(""), CONTEXT_CHARS * 4),
                CONTEXT_CHARS,
            );
            let stated = if negated(ahead) {
                None
            } else {
                labels::severity_in(ahead.trim_start_matches([' ', ':', '：', '为', '為']))
            };
            let found = stated.or_else(|| {
                let behind = suffix(lower.get(..start).unwrap_or(""), CONTEXT_CHARS * 4);
                let tail: String = behind
                    .rsplit(['.', '!', '?', '。'])
                    .next()
                    .unwrap_or("")
                    .chars()
                    .rev()
                    .take(CONTEXT_CHARS / 2)
                    .collect::<Vec<_>>()
                    .into_iter()
                    .rev()
                    .collect();
                let words: Vec<&str> = tail.split_whitespace().collect();
                let near = words
                    .get(words.len().saturating_sub(3)..)
                    .unwrap_or_default()
                    .join(" ");
                if negated(&near) {
                    None
                } else {
                    labels::severity_in(&near)
                }
            });
            if found.is_some() {
                return found;
            }
        }
    }
    None
}

/// Severity given as the adjective of the word for a vulnerability, right before or after it,
/// in any language with `severity.noun` words: "Vulnerabilidade crítica no firewall",
/// "eine kritische Schwachstelle", "критическая уязвимость". The two words must stand in one
/// sentence with only spaces (or a hyphen) between them; "none" is never read this way ("no
/// vulnerability" states nothing).
pub(crate) fn severity_by_noun(text: &str) -> Option<Severity> {
    let text = prefix(text, 64 * 1024);
    let mut previous: Option<(&str, bool)> = None;
    for raw in text.split(|c: char| c.is_whitespace() || c == '-') {
        if raw.is_empty() {
            previous = None;
            continue;
        }
        // Opening quotes and emphasis belong to no word; closing punctuation ends the pairing.
        let word = raw.trim_start_matches(|c: char| !c.is_alphanumeric());
        let core = word.trim_end_matches(|c: char| !c.is_alphanumeric());
        let closed = core.len() != word.len();
        let opened = word.len() != raw.len();
        if let Some((before, before_closed)) = previous
            && !before_closed
            && !opened
        {
            let pair = if labels::is_severity_noun(before) {
                labels::severity_of_word(core)
            } else if labels::is_severity_noun(core) {
                labels::severity_of_word(before)
            } else {
                None
            };
            if let Some(level) = pair.filter(|l| *l != Severity::None) {
                return Some(level);
            }
        }
        previous = (!core.is_empty()).then_some((core, closed));
    }
    None
}

/// The start of `s` up to the end of its sentence, at most `max` characters.
fn sentence(s: &str, max: usize) -> &str {
    let s = prefix(s, max * 4);
    let end = s
        .char_indices()
        .take(max)
        .find(|(_, c)| matches!(c, '.' | '!' | '?' | '。' | ';'))
        .map_or_else(
            || s.char_indices().nth(max).map_or(s.len(), |(i, _)| i),
            |(i, _)| i,
        );
    s.get(..end).unwrap_or(s)
}

/// "not critical", "nicht kritisch", "pas critique": no statement of that level.
fn negated(s: &str) -> bool {
    s.split_whitespace().take(3).any(|w| {
        matches!(
            w,
            "not"
                | "nicht"
                | "kein"
                | "keine"
                | "pas"
                | "non"
                | "no"
                | "niet"
                | "не"
                | "nie"
                | "não"
        )
    })
}

pattern!(
    SCORE_KEY,
    r"(?i)cvss|base\s*score|basis-?score|score|punktzahl|puntuación|punteggio|pontuação|nota|оценк|оцінк|wynik|评分|分数|分值|評分|分數|スコア|基本値|점수|값"
);
pattern!(SCORE_VALUE, r"(?-u:\b)(10(?:[.,]0)?|\d[.,]\d)(?-u:\b)");
pattern!(
    OUT_OF_TEN,
    r"(?i)(?-u:\b)(10(?:[.,]0)?|\d[.,]\d|\d)\s*(?:/|out\s+of|von|sur|de|su|z|na|sobre|из|з|em|op|van|分中|满分|점\s*만점에)\s*10(?:[.,]0)?(?-u:\b)"
);

/// CVSS versions that follow the word "CVSS" ("CVSS 3.1 base score 9.8").
const CVSS_VERSIONS: &[&str] = &["2.0", "3.0", "3.1", "4.0", "2", "3", "4"];

/// Severity from a score stated without a vector: "9.8 out of 10", "CVSS 10.0", "base score
/// 5.5", "CVSS v3.1 评分 7.5", mapped by the CVSS bands. A number right after "CVSS" that is a
/// CVSS version is skipped when a score follows it.
pub(crate) fn severity_from_score(text: &str) -> Option<Severity> {
    let head = prefix(text, 64 * 1024);
    if let Some(c) = OUT_OF_TEN.as_ref().and_then(|re| re.captures(head))
        && let Some(v) = c
            .get(1)
            .and_then(|m| m.as_str().replace(',', ".").parse::<f64>().ok())
    {
        return Some(band(v));
    }
    let keys = SCORE_KEY.as_ref()?;
    let values = SCORE_VALUE.as_ref()?;
    for key in keys.find_iter(head) {
        let window = prefix(head.get(key.end()..).unwrap_or(""), 48);
        let window = window.split(['\n']).next().unwrap_or("");
        let numbers: Vec<regex::Match<'_>> = values.find_iter(window).take(3).collect();
        for (i, m) in numbers.iter().enumerate() {
            let lead = window.get(..m.start()).unwrap_or("").trim();
            let after_cvss = key.as_str().eq_ignore_ascii_case("cvss")
                && (lead.is_empty()
                    || matches!(
                        lead.to_ascii_lowercase().as_str(),
                        "v" | ":" | "v:" | "version"
                    ));
            let version = after_cvss && CVSS_VERSIONS.contains(&m.as_str());
            if version && (i + 1 < numbers.len() || m.as_str().len() == 3 && m.as_str() != "10.0") {
                continue;
            }
            // A vector's own digits ("CVSS:3.1/AV:N") are not a score.
            if window.get(m.end()..).is_some_and(|r| r.starts_with('/')) {
                break;
            }
            if let Ok(v) = m.as_str().replace(',', ".").parse::<f64>() {
                return Some(band(v));
            }
        }
    }
    None
}

/// The CVSS v3/v4 qualitative bands.
fn band(score: f64) -> Severity {
    match score {
        s if s <= 0.0 => Severity::None,
        s if s < 4.0 => Severity::Low,
        s if s < 7.0 => Severity::Medium,
        s if s < 9.0 => Severity::High,
        _ => Severity::Critical,
    }
}

/// Common vulnerability class names. Order matters only when two patterns match the same text.
const VULN_TYPES: &[(&str, &str)] = &[
    (r"sql\s*injection|(?-u:\b)sqli(?-u:\b)", "SQL injection"),
    (
        r"(?-u:\b)xss(?-u:\b)|cross[\s-]*site[\s-]*scripting",
        "Cross-site scripting (XSS)",
    ),
    (
        r"(?-u:\b)(?:csrf|xsrf)(?-u:\b)|cross[\s-]*site[\s-]*request[\s-]*forgery",
        "Cross-site request forgery (CSRF)",
    ),
    (
        r"(?-u:\b)ssrf(?-u:\b)|server[\s-]*side[\s-]*request[\s-]*forgery",
        "Server-side request forgery (SSRF)",
    ),
    (
        r"(?-u:\b)ssti(?-u:\b)|server[\s-]*side[\s-]*template[\s-]*injection|template\s+injection",
        "Server-side template injection (SSTI)",
    ),
    (
        r"(?:os\s+|shell\s+|system\s+)?command\s+injection",
        "Command injection",
    ),
    (
        r"(?-u:\b)rce(?-u:\b)|remote[\s-]*code[\s-]*execution|arbitrary[\s-]*code[\s-]*execution|code\s+execution",
        "Remote code execution",
    ),
    (r"code\s+injection", "Code injection"),
    (
        r"(?:path|directory)[\s-]*traversal|(?-u:\b)dot[\s-]*dot[\s-]*slash(?-u:\b)",
        "Path traversal",
    ),
    (
        r"(?-u:\b)lfi(?-u:\b)|local[\s-]*file[\s-]*inclusion",
        "Local file inclusion",
    ),
    (
        r"(?-u:\b)rfi(?-u:\b)|remote[\s-]*file[\s-]*inclusion",
        "Remote file inclusion",
    ),
    (
        r"(?-u:\b)xxe(?-u:\b)|xml[\s-]*external[\s-]*entit",
        "XML external entity (XXE)",
    ),
    (
        r"open[\s-]*redirect(?:ion)?|unvalidated\s+redirect",
        "Open redirect",
    ),
    (
        r"(?-u:\b)idor(?-u:\b)|insecure[\s-]*direct[\s-]*object[\s-]*reference",
        "Insecure direct object reference (IDOR)",
    ),
    (
        r"auth(?:entication)?[\s-]*bypass|bypass(?:es|ing)?\s+(?:the\s+)?(?:authentication|login)|login[\s-]*bypass|broken\s+authentication",
        "Authentication bypass",
    ),
    (
        r"privilege[\s-]*escalation|escalat(?:e|es|ion\s+of)\s+privileges?|(?-u:\b)lpe(?-u:\b)",
        "Privilege escalation",
    ),
    (
        r"buffer[\s-]*(?:overflow|overrun)|heap[\s-]*(?:based\s+)?(?:buffer\s+)?overflow|stack[\s-]*based\s+(?:buffer\s+)?overflow|stack\s+buffer\s+overflow|out[\s-]*of[\s-]*bounds\s+write",
        "Buffer overflow",
    ),
    (r"out[\s-]*of[\s-]*bounds\s+read", "Out-of-bounds read"),
    (
        r"use[\s-]*after[\s-]*free|(?-u:\b)uaf(?-u:\b)",
        "Use-after-free",
    ),
    (r"integer\s+(?:overflow|underflow)", "Integer overflow"),
    (
        r"denial[\s-]*of[\s-]*service|(?-u:\b)(?-i:DoS|DDoS|ReDoS)(?-u:\b)",
        "Denial of service",
    ),
    (
        r"information\s+(?:disclosure|leak(?:age)?|exposure)|sensitive\s+(?:data|information)\s+(?:exposure|disclosure|leak(?:age)?)|(?-u:\b)info\s+leak",
        "Information disclosure",
    ),
    (
        r"(?:insecure\s+|unsafe\s+|untrusted\s+)?deseriali[sz]ation",
        "Insecure deserialization",
    ),
    (r"prototype\s+pollution", "Prototype pollution"),
    (r"race\s+condition|(?-u:\b)toctou(?-u:\b)", "Race condition"),
    (r"click[\s-]*jacking|ui\s+redress", "Clickjacking"),
    (
        r"broken\s+access\s+control|missing\s+(?:authori[sz]ation|access\s+control|capability\s+check|permission\s+check)|lacks?\s+(?:an?\s+)?(?:authori[sz]ation|capability|permission|access\s+control)\s+check",
        "Broken access control",
    ),
    (
        r"(?-u:\b)ldap\s+injection|(?-u:\b)xpath\s+injection|nosql\s+injection",
        "Injection",
    ),
];

static VULN_ANY: LazyLock<Option<Regex>> = LazyLock::new(|| {
    let joined: Vec<String> = VULN_TYPES.iter().map(|(p, _)| format!("(?:{p})")).collect();
    compile(&format!("(?i){}", joined.join("|")))
});

static VULN_EACH: LazyLock<Vec<(Option<Regex>, &'static str)>> = LazyLock::new(|| {
    VULN_TYPES
        .iter()
        .map(|(p, name)| (compile(&format!("(?i)^(?:{p})$")), *name))
        .collect()
});

/// The earliest common vulnerability class named in `text`, as a canonical name.
pub(crate) fn vulnerability_type(text: &str) -> Option<String> {
    let m = VULN_ANY.as_ref()?.find(text)?;
    VULN_EACH
        .iter()
        .find(|(re, _)| re.as_ref().is_some_and(|r| r.is_match(m.as_str())))
        .map(|(_, name)| (*name).to_owned())
}

pattern!(
    STEPS_HINT,
    r"(?i)(?-u:\b)(?:to\s+reproduce|reproduc(?:e|ing|tion)|repro|steps)(?-u:\b)"
);
pattern!(
    LIST_ITEM,
    r"(?i)^\s{0,8}(?:\d{1,3}[.)]|\(\d{1,3}\)|step\s*\d{1,3}\s*[:.)-]?)(?:\s|$)"
);

fn is_item(line: &Line<'_>) -> bool {
    !line.code && is_list_item(line.text)
}

/// "1. ...", "2) ...", "(3) ...", "Step 4: ..." (bullets are not steps).
pub(crate) fn is_list_item(text: &str) -> bool {
    LIST_ITEM
        .as_ref()
        .is_some_and(|re| re.is_match(prefix(text, 64)))
}

/// Lines between a steps hint and the start of the list it introduces.
const HINT_WINDOW: usize = 6;

/// A numbered list following "to reproduce" / "steps" in prose, with its continuation lines and
/// code blocks.
pub(crate) fn steps_from_prose(lines: &[Line<'_>]) -> Option<String> {
    let hint = STEPS_HINT.as_ref()?;
    let mut i = 0;
    while i < lines.len() {
        let Some(line) = lines.get(i) else { break };
        if line.code || !hint.is_match(prefix(line.text, 1024)) {
            i += 1;
            continue;
        }
        let start = lines
            .iter()
            .enumerate()
            .skip(i + 1)
            .take(HINT_WINDOW)
            .find(|(_, l)| is_item(l))
            .map(|(k, _)| k);
        let Some(start) = start else {
            i += 1;
            continue;
        };
        let end = list_end(lines, start);
        let text: Vec<&str> = lines
            .get(start..end)
            .unwrap_or_default()
            .iter()
            .map(|l| l.text)
            .collect();
        let steps = trim_block(&text.join("\n"));
        return if steps.is_empty() { None } else { Some(steps) };
    }
    None
}

/// Exclusive end of the list starting at `start`: continues through items, indented or lazy
/// continuation lines and code, and across blank lines only when the list resumes after them.
fn list_end(lines: &[Line<'_>], start: usize) -> usize {
    let mut end = start;
    let mut k = start;
    while let Some(line) = lines.get(k) {
        if line.is_blank() {
            let next = lines.iter().skip(k + 1).position(|l| !l.is_blank());
            let Some(offset) = next else { break };
            let resumes = lines
                .get(k + 1 + offset)
                .is_some_and(|l| is_item(l) || l.code || indent_width(l.text) >= 2);
            if !resumes {
                break;
            }
            k += 1 + offset;
            continue;
        }
        let previous_blank = k > 0 && lines.get(k - 1).is_some_and(Line::is_blank);
        let continues =
            is_item(line) || line.code || indent_width(line.text) >= 2 || !previous_blank;
        if !continues {
            break;
        }
        k += 1;
        end = k;
    }
    end
}

/// Fills fields the report did not state under a label from prose heuristics.
pub(crate) fn fill_fallbacks(fields: &mut Fields, lines: &[Line<'_>]) {
    let prose_lines: Vec<&str> = lines.iter().filter(|l| !l.code).map(|l| l.text).collect();
    let prose = prose_lines.join("\n");

    if fields.stated_severity.is_none() {
        // A stated word wins over a score; a score counts only without a vector.
        fields.stated_severity = severity_from_prose(&prose)
            .or_else(|| severity_in_sentence(&prose))
            .or_else(|| severity_by_noun(&prose))
            .or_else(|| {
                if fields.cvss.is_some() {
                    None
                } else {
                    severity_from_score(&prose)
                }
            });
        fields.inferred.severity = fields.stated_severity.is_some();
    }
    if fields.affected_versions.is_none() {
        fields.affected_versions = versions::infer(&prose, fields.affected_component.as_deref());
        fields.inferred.affected_versions = fields.affected_versions.is_some();
    }
    if fields.vulnerability_type.is_none() {
        fields.vulnerability_type = [fields.title.as_deref(), fields.description.as_deref()]
            .into_iter()
            .flatten()
            .find_map(vulnerability_type)
            .or_else(|| vulnerability_type(&prose));
    }
    if fields.steps_to_reproduce.is_none() {
        fields.steps_to_reproduce = steps_from_prose(lines);
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::indexing_slicing)]
mod tests {
    use super::*;

    #[test]
    fn all_patterns_compile() {
        for re in [
            &REPLY_PREFIX,
            &BRACKET_TAG,
            &REPORT_PREFIX,
            &SCORE_NUMBER,
            &SEVERITY_PROSE,
            &STEPS_HINT,
            &LIST_ITEM,
            &VULN_ANY,
            &SCORE_KEY,
            &SCORE_VALUE,
            &OUT_OF_TEN,
            &CONTEXT_WORDS,
        ] {
            assert!(re.is_some());
        }
        assert!(VULN_EACH.iter().all(|(re, _)| re.is_some()));
    }

    #[test]
    fn subjects() {
        let cases: &[(&str, Option<&str>)] = &[
            ("SQL injection in login", Some("SQL injection in login")),
            (
                "Re: Fwd: [SECURITY] Vulnerability report: SQL injection in login",
                Some("SQL injection in login"),
            ),
            ("RE: [PATCH][vuln] XSS in search", Some("XSS in search")),
            (
                "Security issue - CSRF on /settings",
                Some("CSRF on /settings"),
            ),
            ("Vulnerability report", Some("Vulnerability report")),
            ("[SECURITY]", Some("[SECURITY]")),
            ("Re:", Some("Re:")),
            (
                "Vulnerability-scanner false positive",
                Some("Vulnerability-scanner false positive"),
            ),
            ("   ", None),
            (
                "Aw: Sicherheitslücke  in\n  Anmeldung",
                Some("Sicherheitslücke in Anmeldung"),
            ),
        ];
        for (subject, want) in cases {
            assert_eq!(
                clean_subject(subject).as_deref(),
                *want,
                "subject {subject:?}"
            );
        }
    }

    #[test]
    fn severity_values() {
        let cases: &[(&str, Option<Severity>)] = &[
            ("High", Some(Severity::High)),
            ("**critical**", Some(Severity::Critical)),
            ("Moderate", Some(Severity::Medium)),
            ("informational", Some(Severity::None)),
            ("Info", Some(Severity::None)),
            ("None", Some(Severity::None)),
            ("low (CVSS 3.1 score 3.7)", Some(Severity::Low)),
            ("CVSS 3.1 score 9.8", Some(Severity::Critical)),
            ("8.1", Some(Severity::High)),
            ("5.0/10", Some(Severity::Medium)),
            ("v3.1", None),
            ("unknown", None),
            ("highway", None),
        ];
        for (value, want) in cases {
            assert_eq!(severity_from_value(value), *want, "value {value:?}");
        }
    }

    #[test]
    fn severity_prose() {
        let cases: &[(&str, Option<Severity>)] = &[
            (
                "I believe this is a critical issue.",
                Some(Severity::Critical),
            ),
            ("The severity: high, in my opinion", Some(Severity::High)),
            ("This is a High severity bug", Some(Severity::High)),
            ("I have rated medium due to UI", Some(Severity::Medium)),
            ("I'd say it is a low-risk issue", Some(Severity::Low)),
            ("Overall severity is moderate.", Some(Severity::Medium)),
            ("Severity of informational", Some(Severity::None)),
            ("this is not a critical issue at all", None),
            ("a high number of requests", None),
            ("the highlight of the low-level code", None),
            ("", None),
        ];
        for (text, want) in cases {
            assert_eq!(severity_from_prose(text), *want, "text {text:?}");
        }
    }

    #[test]
    fn vulnerability_types() {
        let cases: &[(&str, Option<&str>)] = &[
            ("Blind SQL Injection in /search", Some("SQL injection")),
            ("stored XSS in comments", Some("Cross-site scripting (XSS)")),
            ("Cross-Site Scripting", Some("Cross-site scripting (XSS)")),
            (
                "missing CSRF token",
                Some("Cross-site request forgery (CSRF)"),
            ),
            (
                "SSRF via webhook URL",
                Some("Server-side request forgery (SSRF)"),
            ),
            ("Unauthenticated RCE", Some("Remote code execution")),
            (
                "remote code execution via upload",
                Some("Remote code execution"),
            ),
            ("directory traversal in download", Some("Path traversal")),
            ("XXE in the SAML parser", Some("XML external entity (XXE)")),
            ("Open redirect on login", Some("Open redirect")),
            (
                "IDOR on invoices",
                Some("Insecure direct object reference (IDOR)"),
            ),
            (
                "authentication bypass via header",
                Some("Authentication bypass"),
            ),
            ("local privilege escalation", Some("Privilege escalation")),
            ("heap-based buffer overflow", Some("Buffer overflow")),
            ("a use-after-free in the parser", Some("Use-after-free")),
            ("Denial of Service through regex", Some("Denial of service")),
            ("ReDoS in validator", Some("Denial of service")),
            (
                "information disclosure of tokens",
                Some("Information disclosure"),
            ),
            ("OS command injection in ping", Some("Command injection")),
            (
                "unsafe deserialization of cookies",
                Some("Insecure deserialization"),
            ),
            (
                "command injection leading to RCE",
                Some("Command injection"),
            ),
            (
                "the handler lacks a capability check",
                Some("Broken access control"),
            ),
            ("the dos and don'ts", None),
            ("nothing to see here", None),
        ];
        for (text, want) in cases {
            assert_eq!(vulnerability_type(text).as_deref(), *want, "text {text:?}");
        }
    }

    fn lines(text: &str) -> Vec<Line<'_>> {
        text.split('\n')
            .map(|t| Line {
                text: t,
                code: false,
            })
            .collect()
    }

    #[test]
    fn steps_in_prose() {
        let text = "Hi,\n\nTo reproduce:\n1. Log in\n2. Open /admin\n   as a normal user\n\n3. See the panel\n\nThanks, Jane";
        assert_eq!(
            steps_from_prose(&lines(text)).as_deref(),
            Some("1. Log in\n2. Open /admin\n   as a normal user\n\n3. See the panel")
        );
        let text = "Follow these steps, please.\nStep 1: open\nStep 2: click\n\nBye";
        assert_eq!(
            steps_from_prose(&lines(text)).as_deref(),
            Some("Step 1: open\nStep 2: click")
        );
        assert_eq!(steps_from_prose(&lines("1. a\n2. b")), None);
        assert_eq!(
            steps_from_prose(&lines(
                "steps\nfoo\nbar\nbaz\nqux\nquux\nquuz\ncorge\n1. late"
            )),
            None
        );
    }
}
