//! The researcher's name and address from the end of a report: the lines after a closing
//! formula ("Mit freundlichen Grüßen\nJakob Wendler\njakob@…", "此致\n敬礼！\n张明") or a
//! "-- " signature delimiter, "Jane Doe <jane@…>" after "Thanks,", and a closing sentence
//! such as "Reported by Nerea Goikoetxea." in any language whose table has that label.
//!
//! The cleaning in `text` drops these lines so that they do not run into the last section;
//! this module reads them from the text before cleaning, for the credit and contact fields
//! no label gave. No I/O; bounded passes over the last lines only.

use super::labels;
use super::text::pattern;

/// Only this many non-blank lines at the end of a report are looked at.
const TAIL_LINES: usize = 16;

/// Lines after the closing that may hold the name and the address.
const SIGNATURE_LINES: usize = 6;

pattern!(
    EMAIL,
    r"[A-Za-z0-9][A-Za-z0-9._%+-]{0,63}@[A-Za-z0-9](?:[A-Za-z0-9-]{0,62}\.)+[A-Za-z]{2,24}"
);

/// Name and address from the closing of `text` (the body before cleaning).
pub(crate) fn signer(text: &str) -> (Option<String>, Option<String>) {
    let lines: Vec<&str> = text.lines().map(str::trim).collect();
    let tail_start = lines
        .iter()
        .enumerate()
        .rev()
        .filter(|(_, l)| !l.is_empty())
        .nth(TAIL_LINES - 1)
        .map_or(0, |(i, _)| i);
    let tail = lines.get(tail_start..).unwrap_or_default();
    let closing = tail
        .iter()
        .rposition(|l| *l == "--" || labels::is_closing(l) || closing_with_name(l).is_some());
    let mut name = None;
    let mut email = None;
    if let Some(at) = closing {
        let closing_line = tail.get(at).copied().unwrap_or("");
        name = closing_with_name(closing_line);
        let after: Vec<&str> = tail
            .get(at + 1..)
            .unwrap_or_default()
            .iter()
            .copied()
            .filter(|l| !l.is_empty() && *l != "--" && !labels::is_closing(l))
            .take(SIGNATURE_LINES)
            .collect();
        if name.is_none() {
            name = after.first().and_then(|l| name_in(l));
        }
        email = after.iter().find_map(|l| email_in(l));
    }
    if closing.is_none() {
        // No closing formula: a name (and an address) as the report's last lines.
        let last: Vec<&str> = tail
            .iter()
            .rev()
            .filter(|l| !l.is_empty())
            .take(2)
            .copied()
            .collect();
        match last.as_slice() {
            [address, person, ..] if email_in(address).as_deref() == Some(address.trim()) => {
                name = name_in(person);
                email = name.as_ref().and(email_in(address));
            }
            // "Segnalato da Lorenzo Bianchi.": a credit sentence, not a name of four words.
            [person, ..] => match credited(std::slice::from_ref(person)) {
                Some((p, address)) => {
                    name = Some(p);
                    email = address;
                }
                None => name = name_in(person),
            },
            [] => {}
        }
    }
    if name.is_none()
        && let Some((person, address)) = credited(tail)
    {
        name = Some(person);
        email = email.or(address);
    }
    (name, email)
}

/// "Regards, Jane Doe": a closing formula and a name on one line.
fn closing_with_name(line: &str) -> Option<String> {
    let (head, rest) = line.split_once([',', '，'])?;
    if !labels::is_closing(head) {
        return None;
    }
    name_in(rest.trim())
}

pub(crate) fn email_in(line: &str) -> Option<String> {
    EMAIL
        .as_ref()?
        .find(line)
        .map(|m| m.as_str().trim_end_matches('.').to_owned())
}

/// Words a credit label may stand after in its sentence: "Vulnerabilidad descubierta por
/// Rocío Vidal", "The issue was reported by …".
const CREDIT_LEAD_WORDS: usize = 4;

/// "Reported by Nerea Goikoetxea.", "Found by Priya Natarajan (priya@…), who…", "Thanks to
/// Amara Okafor for reporting", "Vulnerabilidad descubierta por Rocío Vidal.": a credit label
/// of any language near the start of a line near the end, then a name; with the address when
/// the line gives one.
pub(crate) fn credited(tail: &[&str]) -> Option<(String, Option<String>)> {
    tail.iter().rev().find_map(|line| {
        let words: Vec<&str> = line.split_whitespace().collect();
        (0..=CREDIT_LEAD_WORDS).find_map(|start| {
            (2..=4).rev().find_map(|n| {
                // A name starts with a capital right after the label: only then is the
                // label looked up (this runs for every word position of the last lines).
                let next = words.get(start + n)?;
                if !next.chars().next().is_some_and(char::is_uppercase) {
                    return None;
                }
                let label = words.get(start..start + n)?.join(" ");
                if labels::lookup(&label) != Some(super::FieldName::CreditName)
                    || !label.contains(' ')
                {
                    return None;
                }
                let rest = words.get(start + n..)?.join(" ");
                let person = leading_name(&rest)?;
                Some((person, email_in(&rest)))
            })
        })
    })
}

/// Words that join the parts of a name without a capital: "Joost van Dijk", "Sanne de Vries".
const PARTICLES: &[&str] = &[
    "van", "de", "der", "den", "von", "da", "di", "du", "dos", "das", "do", "la", "le", "del",
    "ter", "y", "e",
];

fn name_word(w: &str) -> bool {
    w.chars().next().is_some_and(char::is_uppercase)
        && w.chars().all(|c| c.is_alphabetic() || "-'’.".contains(c))
}

/// The capitalised words a sentence starts with, as a name of two to four words: "Amara
/// Okafor for reporting" gives "Amara Okafor".
fn leading_name(text: &str) -> Option<String> {
    let head = text
        .split(['<', '(', '（', '|', '·', ',', '，', ';', '—', '–'])
        .next()
        .unwrap_or("");
    let mut taken: Vec<&str> = Vec::new();
    for raw in head.split_whitespace() {
        let w = raw.trim_end_matches(['.', '。', '!', ':']);
        if name_word(w) || (!taken.is_empty() && PARTICLES.contains(&w)) {
            taken.push(w);
        } else {
            break;
        }
        // "Reported by Tomasz Wierzbicki. See #1996": the sentence ends the name ("J." is
        // an initial).
        if raw.ends_with(['.', '。', '!']) && w.chars().count() > 1 {
            break;
        }
        if taken.len() == 5 {
            break;
        }
    }
    while taken.last().is_some_and(|w| PARTICLES.contains(w)) {
        taken.pop();
    }
    let capitals = taken.iter().filter(|w| name_word(w)).count();
    (2..=4).contains(&capitals).then(|| taken.join(" "))
}

/// A person's name at the start of a signature line: "Jakob Wendler", "Lena Vogt (Office
/// Graz)", "Wen Xiaoyu <wen@…>", "Jonas Eklund · jonas@…", "张明". Titles, addresses and
/// sentences are not names.
pub(crate) fn name_in(line: &str) -> Option<String> {
    let head = line
        .split(['<', '(', '（', '|', '·', '•', '/', ',', '，', '—', '–'])
        .next()
        .unwrap_or("")
        .trim()
        .trim_end_matches(['.', '。', '!', '！']);
    let words: Vec<&str> = head.split_whitespace().collect();
    if head.is_empty() || head.chars().count() > 60 || head.contains(['@', ':', '：']) {
        return None;
    }
    let cjk = head
        .chars()
        .all(|c| labels::is_cjk(c) || c == ' ' || c == '·');
    if cjk {
        let n = head.chars().filter(|c| !c.is_whitespace()).count();
        return (2..=5).contains(&n).then(|| head.to_owned());
    }
    let capitalised = words
        .iter()
        .enumerate()
        .all(|(i, w)| name_word(w) || (i > 0 && i + 1 < words.len() && PARTICLES.contains(w)));
    let capitals = words.iter().filter(|w| name_word(w)).count();
    ((2..=4).contains(&capitals) && capitalised).then(|| words.join(" "))
}

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::indexing_slicing)]
mod tests {
    use super::*;

    #[test]
    fn pattern_compiles() {
        assert!(EMAIL.is_some());
    }

    #[test]
    fn names_and_addresses_after_the_closing() {
        let cases: &[(&str, Option<&str>, Option<&str>)] = &[
            (
                "Body.\n\nMit freundlichen Grüßen\nJakob Wendler\njakob.wendler@example.net\n",
                Some("Jakob Wendler"),
                Some("jakob.wendler@example.net"),
            ),
            (
                "Body.\n\nThanks,\nWen Xiaoyu <wen.xiaoyu@example.net>\n",
                Some("Wen Xiaoyu"),
                Some("wen.xiaoyu@example.net"),
            ),
            (
                "Body.\n\nRegards,\nJonas Eklund\n-- \nJonas Eklund · jonas@eklund.example.net · https://x\n",
                Some("Jonas Eklund"),
                Some("jonas@eklund.example.net"),
            ),
            (
                "修复建议：升级。\n\n此致\n敬礼！\n张明\n",
                Some("张明"),
                None,
            ),
            ("Abraços,\nJoão Silva\n", Some("João Silva"), None),
            (
                "Text.\n\nReportado por Nerea Goikoetxea.\n",
                Some("Nerea Goikoetxea"),
                None,
            ),
            ("No closing at all.\nJust text.\n", None, None),
            (
                "Groeten,\n-- \nJoost van Dijk\nHavenmeester\n",
                Some("Joost van Dijk"),
                None,
            ),
            (
                "Text.\n\nMatteo Sanna\nmatteo.sanna@example.net\n",
                Some("Matteo Sanna"),
                Some("matteo.sanna@example.net"),
            ),
            (
                "Found by Priya Natarajan (priya.n@example.org), who also wrote tests.\n",
                Some("Priya Natarajan"),
                Some("priya.n@example.org"),
            ),
            (
                "Thanks to Amara Okafor for reporting this.\n",
                Some("Amara Okafor"),
                None,
            ),
            (
                "Reported by Tomasz Wierzbicki. See #1996.\n",
                Some("Tomasz Wierzbicki"),
                None,
            ),
            (
                "Die Lücke ist kritisch.\nIch bitte um Rückmeldung.\n",
                None,
                None,
            ),
            ("Regards,\nthe security team of example\n", None, None),
            // Issue 24: the credit label inside its sentence, and a credit sentence as the
            // last line is the person it names, not a name of four words.
            (
                "Detalle:\nVulnerabilidad descubierta por Rocío Vidal.\n",
                Some("Rocío Vidal"),
                None,
            ),
            (
                "Text.\n\nThe issue was reported by Jane Doe.\n",
                Some("Jane Doe"),
                None,
            ),
            (
                "Il parametro q non è codificato.\n\nSegnalato da Lorenzo Bianchi.\n",
                Some("Lorenzo Bianchi"),
                None,
            ),
            (
                "Text.\n\nThe flaw was reported by the vendor itself.\n",
                None,
                None,
            ),
        ];
        for (text, name, email) in cases {
            let (n, e) = signer(text);
            assert_eq!(
                (n.as_deref(), e.as_deref()),
                (*name, *email),
                "text {text:?}"
            );
        }
    }
}
