//! The command lines at the top of a maintainer's mail (`X-STATUS: accepted`, …):
//! read here, without the store; what they mean for a report is decided by the same
//! checks as `reports set` (`store::Change`, `Report::apply`). Only what a maintainer
//! signed is ever given to this parser.

/// One command keyword, as written (case-insensitive) before the colon.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Keyword {
    Status,
    Reason,
    DuplicateOf,
    Severity,
    Cvss,
    Assignee,
    Note,
    Internal,
    Relay,
    Notify,
    Report,
    /// A detail of the report to correct or complete (`X-CVE: CVE-2026-12345`).
    Detail(crate::store::Detail),
    /// Sets the embargo (an instant with its zone) or accepts the proposed one.
    Embargo,
    /// Moves the end of the active embargo.
    EmbargoRevise,
    /// Ends the active embargo early, with a reason.
    EmbargoExit,
    /// `yes`: the text is a question relayed to the researcher and the clocks
    /// pause; `no`: they run again.
    NeedsInfo,
}

impl Keyword {
    /// Every keyword with its name, for parsing and for the README's list.
    pub(super) const ALL: &[(&'static str, Keyword)] = &[
        ("X-STATUS", Keyword::Status),
        ("X-REASON", Keyword::Reason),
        ("X-DUPLICATE-OF", Keyword::DuplicateOf),
        ("X-SEVERITY", Keyword::Severity),
        ("X-CVSS", Keyword::Cvss),
        ("X-ASSIGNEE", Keyword::Assignee),
        ("X-NOTE", Keyword::Note),
        ("X-INTERNAL", Keyword::Internal),
        ("X-RELAY", Keyword::Relay),
        ("X-NOTIFY", Keyword::Notify),
        ("X-REPORT", Keyword::Report),
        ("X-TITLE", Keyword::Detail(crate::store::Detail::Title)),
        (
            "X-AFFECTED-VERSIONS",
            Keyword::Detail(crate::store::Detail::AffectedVersions),
        ),
        (
            "X-COMPONENT",
            Keyword::Detail(crate::store::Detail::AffectedComponent),
        ),
        (
            "X-TYPE",
            Keyword::Detail(crate::store::Detail::VulnerabilityType),
        ),
        ("X-CWE", Keyword::Detail(crate::store::Detail::Cwe)),
        ("X-CVE", Keyword::Detail(crate::store::Detail::Cve)),
        ("X-FIXED-IN", Keyword::Detail(crate::store::Detail::FixedIn)),
        ("X-EMBARGO", Keyword::Embargo),
        ("X-EMBARGO-REVISE", Keyword::EmbargoRevise),
        ("X-EMBARGO-EXIT", Keyword::EmbargoExit),
        ("X-NEEDS-INFO", Keyword::NeedsInfo),
        ("X-SUMMARY", Keyword::Detail(crate::store::Detail::Summary)),
        (
            "X-ECOSYSTEM",
            Keyword::Detail(crate::store::Detail::Ecosystem),
        ),
        ("X-PACKAGE", Keyword::Detail(crate::store::Detail::Package)),
        ("X-PURL", Keyword::Detail(crate::store::Detail::Purl)),
        ("X-VENDOR", Keyword::Detail(crate::store::Detail::Vendor)),
        ("X-PRODUCT", Keyword::Detail(crate::store::Detail::Product)),
        (
            "X-REFERENCES",
            Keyword::Detail(crate::store::Detail::References),
        ),
        (
            "X-REMEDIATION",
            Keyword::Detail(crate::store::Detail::Remediation),
        ),
        (
            "X-PUBLISHED",
            Keyword::Detail(crate::store::Detail::Published),
        ),
        (
            "X-AFFECTED",
            Keyword::Detail(crate::store::Detail::Affected),
        ),
    ];

    fn parse(name: &str) -> Option<Keyword> {
        Self::ALL
            .iter()
            .find(|(n, _)| n.eq_ignore_ascii_case(name))
            .map(|(_, k)| *k)
    }
}

/// A command line that cannot be taken: which line (1-based, in the first text
/// part) and why. Nothing of a message with one is applied or relayed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(super) struct LineError {
    pub(super) line: usize,
    pub(super) text: String,
    pub(super) why: String,
}

impl std::fmt::Display for LineError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "line {} ({:?}): {}", self.line, self.text, self.why)
    }
}

/// The command block and what follows it.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub(super) struct Commands {
    /// Each command with its line number and value (trimmed), in order.
    pub(super) lines: Vec<(usize, Keyword, String)>,
    /// `X-INTERNAL: yes`: the message goes to the team only.
    pub(super) internal: bool,
    /// `X-RELAY: yes` or `no`: whether the text goes to the researcher, whatever
    /// mail the message answers.
    pub(super) relay: Option<bool>,
    /// `X-NOTIFY: no`: a state change is not mailed to the researcher (`--no-notify`).
    pub(super) notify: Option<bool>,
    /// The text after the command lines: what the researcher is sent.
    pub(super) rest: String,
}

impl Commands {
    /// The value of the last line with this keyword.
    pub(super) fn value(&self, keyword: Keyword) -> Option<(usize, &str)> {
        self.lines
            .iter()
            .rev()
            .find(|(_, k, _)| *k == keyword)
            .map(|(n, _, v)| (*n, v.as_str()))
    }
}

/// Reads the command lines at the top of `text`, stopping at the first line that
/// cannot be taken (see [`parse_all`]).
#[cfg(test)]
pub(super) fn parse(text: &str) -> Result<Commands, LineError> {
    let (commands, errors) = parse_all(text);
    match errors.into_iter().next() {
        Some(e) => Err(e),
        None => Ok(commands),
    }
}

/// Reads the command lines at the top of `text`: blank lines before them are
/// skipped, and the first line that is not `X-WORD: value` ends them. A line that
/// looks like a command but names no keyword, a keyword given twice, or a value
/// that is empty is an error for that line; every error is returned, so a
/// maintainer fixes them all in one go, and the lines that could be read are in
/// the commands.
pub(super) fn parse_all(text: &str) -> (Commands, Vec<LineError>) {
    let mut out = Commands::default();
    let mut errors = Vec::new();
    let mut lines = text.lines().enumerate().peekable();
    while lines.peek().is_some_and(|(_, l)| l.trim().is_empty()) {
        lines.next();
    }
    let mut rest_from = None;
    for (i, raw) in lines.by_ref() {
        let line = raw.trim();
        let err = |why: String| LineError {
            line: i + 1,
            text: line.chars().take(80).collect(),
            why,
        };
        let Some((name, value)) = command_shape(line) else {
            rest_from = Some(i);
            break;
        };
        let Some(keyword) = Keyword::parse(name) else {
            let known: Vec<&str> = Keyword::ALL.iter().map(|(n, _)| *n).collect();
            errors.push(err(format!(
                "unknown keyword {name} (known: {})",
                known.join(", ")
            )));
            continue;
        };
        if out.lines.iter().any(|(_, k, _)| *k == keyword) {
            errors.push(err(format!("{name} is given twice: keep one")));
            continue;
        }
        if value.is_empty() && keyword != Keyword::Assignee {
            errors.push(err(format!("{name} has no value")));
            continue;
        }
        if matches!(
            keyword,
            Keyword::Internal | Keyword::Relay | Keyword::Notify
        ) {
            let yes = match value.to_ascii_lowercase().as_str() {
                "yes" | "true" => true,
                "no" | "false" => false,
                _ => {
                    errors.push(err(format!("{name} takes yes or no, not {value:?}")));
                    continue;
                }
            };
            match keyword {
                Keyword::Internal => out.internal = yes,
                Keyword::Relay => out.relay = Some(yes),
                _ => out.notify = Some(yes),
            }
            if out.internal && out.relay == Some(true) {
                errors.push(err(
                    "X-INTERNAL: yes and X-RELAY: yes contradict each other: drop one".into(),
                ));
            }
        }
        out.lines.push((i + 1, keyword, value.to_string()));
    }
    out.rest = match rest_from {
        Some(start) => text
            .lines()
            .skip(start)
            .collect::<Vec<_>>()
            .join("\n")
            .trim()
            .to_string(),
        None => String::new(),
    };
    (out, errors)
}

/// What of a maintainer's text may go to the researcher: the text down to the
/// maintainer's own signature block (`-- `, or `--` as clients that strip trailing
/// spaces write it), without quoted lines (`>`), the "On …, … wrote:" line that
/// introduces them, and everything from a quoted message's header block on
/// (Outlook's "From: … Sent: …", "-----Original Message-----"), which quotes
/// without `>`. A reply to a notification quotes it, and a notification carries
/// what the researcher must not see (hints, scope guesses, other maintainers'
/// addresses); a signature block carries the maintainer's address. Cutting only
/// ever removes text; [`check_relay`] then refuses whatever still looks like the
/// team's.
pub(super) fn relayable(text: &str) -> String {
    let all: Vec<&str> = text.lines().map(|l| l.trim_end_matches('\r')).collect();
    let end = all
        .iter()
        .enumerate()
        .position(|(i, l)| {
            matches!(l.trim_end(), "--") || quote_header_at(&all, i) || is_separator_title(l)
        })
        .unwrap_or(all.len());
    let lines = all.get(..end).unwrap_or_default();
    let quoted = |l: &&str| l.trim_start().starts_with('>');
    let mut kept: Vec<&str> = Vec::new();
    let mut iter = lines.iter().peekable();
    while let Some(line) = iter.next() {
        if quoted(line) {
            continue;
        }
        let introduces_quote = line.trim_end().ends_with(':')
            && line.to_ascii_lowercase().contains("wrote")
            && iter
                .peek()
                .is_none_or(|next| quoted(next) || next.trim().is_empty());
        if !introduces_quote {
            kept.push(line);
        }
    }
    // Outlook's rule line above the header block it starts.
    while kept.last().is_some_and(|l| {
        l.trim()
            .chars()
            .all(|c| matches!(c, '_' | '-' | ' ' | '\t'))
    }) {
        kept.pop();
    }
    kept.join("\n").trim().to_string()
}

/// Labels of the first line of a quoted message's header block, as Outlook and
/// other clients write them in their languages.
const QUOTE_FROM: &[&str] = &[
    "from",
    "von",
    "de",
    "da",
    "van",
    "från",
    "fra",
    "od",
    "от",
    "发件人",
    "寄件者",
    "差出人",
];
/// Labels of its date line.
const QUOTE_SENT: &[&str] = &[
    "sent",
    "date",
    "gesendet",
    "datum",
    "envoyé",
    "enviado",
    "inviato",
    "data",
    "verzonden",
    "skickat",
    "sendt",
    "wysłano",
    "отправлено",
    "дата",
    "发送时间",
    "日付",
    "送信日時",
];

/// Whether line `i` starts a quoted message's header block: a From-like label
/// followed, within the next four lines, by a Sent/Date-like label.
fn quote_header_at(lines: &[&str], i: usize) -> bool {
    let labelled = |line: &str, labels: &[&str]| {
        let line = line.trim().trim_start_matches('*');
        let Some((name, _)) = line.split_once([':', '：']) else {
            return false;
        };
        let name = name.trim().trim_end_matches('*').trim().to_lowercase();
        labels.contains(&name.as_str())
    };
    lines.get(i).is_some_and(|l| labelled(l, QUOTE_FROM))
        && lines
            .iter()
            .skip(i + 1)
            .take(4)
            .any(|l| labelled(l, QUOTE_SENT))
}

/// `-----Original Message-----`, `-------- Forwarded Message --------` and their
/// translations: words between runs of dashes.
fn is_separator_title(line: &str) -> bool {
    let t = line.trim();
    let inner = t.trim_matches('-');
    t.starts_with("---") && t.ends_with("---") && inner.trim().chars().any(char::is_alphabetic)
}

/// What may never reach a researcher: the maintainers' addresses and key
/// fingerprints, and the lines of the gateway's mail to maintainers about the report
/// (normalised by [`normalise`]) that the researcher did not write or receive.
#[derive(Debug, Default)]
pub(super) struct Guard {
    pub(super) addresses: Vec<String>,
    pub(super) fingerprints: Vec<String>,
    pub(super) team_lines: std::collections::HashSet<String>,
}

/// Lines shorter than this (normalised) are too common to be told apart from a
/// maintainer's own words ("Thanks,", "Status: triaged").
const MIN_TEAM_LINE: usize = 12;

impl Guard {
    /// Adds the lines of `text` (mail the gateway sent to maintainers).
    pub(super) fn add_team_text(&mut self, text: &str) {
        for line in text.lines() {
            let n = normalise(line);
            if n.chars().count() >= MIN_TEAM_LINE {
                self.team_lines.insert(n);
            }
        }
    }

    /// Removes the lines of `text` (what the researcher wrote or was sent): telling
    /// them their own words again leaks nothing.
    pub(super) fn forget_known_text(&mut self, text: &str) {
        for line in text.lines() {
            self.team_lines.remove(&normalise(line));
        }
    }
}

/// A line as compared with the team's mail: without quote marks (`>`, `|`) or
/// leading bullets of whitespace, inner whitespace collapsed, lower case.
pub(super) fn normalise(line: &str) -> String {
    let t = line.trim_start_matches(|c: char| c.is_whitespace() || matches!(c, '>' | '|'));
    t.split_whitespace()
        .collect::<Vec<_>>()
        .join(" ")
        .to_lowercase()
}

/// Fails closed on the text about to leave the team: a command-shaped line (a
/// command placed after a blank line, or after the text, was meant as a command and
/// would otherwise be relayed), a maintainer's address or key, or a line of the
/// gateway's mail to maintainers (a notification quoted without `>`) refuses the
/// whole message, with the line that did it.
pub(super) fn check_relay(text: &str, guard: &Guard) -> Result<(), String> {
    stray_command(text)?;
    let lower = text.to_lowercase();
    for address in &guard.addresses {
        if lower.contains(&address.to_lowercase()) {
            return Err(format!(
                "the text to relay contains the maintainer address {address}; the \
                 researcher never sees the team's addresses"
            ));
        }
    }
    let hex: String = text
        .chars()
        .filter(char::is_ascii_hexdigit)
        .collect::<String>()
        .to_ascii_uppercase();
    for fpr in &guard.fingerprints {
        if hex.contains(&fpr.to_ascii_uppercase()) {
            return Err(format!(
                "the text to relay contains the key fingerprint {fpr} of a maintainer"
            ));
        }
    }
    for line in text.lines() {
        if guard.team_lines.contains(&normalise(line)) {
            return Err(format!(
                "the line {:?} is a line of the gateway's mail to maintainers (a \
                 notification or team copy quoted without '>'?), which stays in the team; \
                 quote with '>' or delete the quoted mail",
                line.trim().chars().take(80).collect::<String>()
            ));
        }
    }
    Ok(())
}

/// A command-shaped line in text outside the command block.
pub(super) fn stray_command(text: &str) -> Result<(), String> {
    match text.lines().find(|l| command_shape(l.trim()).is_some()) {
        Some(line) => Err(format!(
            "the line {:?} is a command outside the command block: commands go in the \
             first lines of the message, one per line, with no blank line or text before \
             or between them",
            line.trim().chars().take(80).collect::<String>()
        )),
        None => Ok(()),
    }
}

/// `X-WORD: value`, the only shape of a command line: a name of letters, digits and
/// dashes starting with `X-`, a colon, a value.
fn command_shape(line: &str) -> Option<(&str, &str)> {
    let (name, value) = line.split_once(':')?;
    let is_name = name.len() > 2
        && name.get(..2).is_some_and(|p| p.eq_ignore_ascii_case("x-"))
        && name.chars().all(|c| c.is_ascii_alphanumeric() || c == '-');
    is_name.then(|| (name, value.trim()))
}

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::indexing_slicing)]
mod tests {
    use super::*;

    #[test]
    fn commands_end_at_the_first_other_line() {
        let c = parse("\n x-status: accepted\nX-Severity: high\nX-NOTE: seen on 5.x\n\nThanks, confirmed.\nX-STATUS: fixed\n").unwrap();
        assert_eq!(c.lines.len(), 3);
        assert_eq!(c.value(Keyword::Status), Some((2, "accepted")));
        assert_eq!(c.value(Keyword::Severity), Some((3, "high")));
        assert_eq!(c.rest, "Thanks, confirmed.\nX-STATUS: fixed");
        assert!(!c.internal);
    }

    #[test]
    fn refused_lines_say_which_and_why() {
        for (text, line, why) in [
            ("X-STATUS: accepted\nX-PRIORITY: 1\n", 2, "unknown keyword"),
            ("X-STATUS: accepted\nx-status: fixed\n", 2, "twice"),
            ("X-SEVERITY:\n", 1, "no value"),
            ("X-INTERNAL: maybe\n", 1, "yes or no"),
        ] {
            let e = parse(text).unwrap_err();
            assert_eq!(e.line, line, "{text:?}");
            assert!(e.why.contains(why), "{text:?}: {e}");
        }
    }

    #[test]
    fn every_refused_line_is_reported_at_once() {
        let (c, errors) = parse_all(
            "X-PRIORITY: 1\nX-STATUS: accepted\nX-NOTIFY: maybe\nx-status: fixed\nX-NOTE:\n\ntext",
        );
        let lines: Vec<usize> = errors.iter().map(|e| e.line).collect();
        assert_eq!(lines, [1, 3, 4, 5], "{errors:?}");
        assert_eq!(c.value(Keyword::Status), Some((2, "accepted")));
        assert_eq!(c.rest, "text");
        let (c, errors) = parse_all("X-NOTIFY: no\n");
        assert!(errors.is_empty());
        assert_eq!(c.notify, Some(false));
    }

    #[test]
    fn quotes_and_signature_blocks_are_not_relayed() {
        let text = "Thanks, confirmed.\n\nOn Mon, Bob <bob@example.org> wrote:\n> A new report\n>   Hints: possibly_out_of_scope\n\nMore after the quote.\n-- \nBob, bob@example.org\n";
        assert_eq!(
            relayable(text),
            "Thanks, confirmed.\n\n\nMore after the quote."
        );
        assert_eq!(relayable("> only a quote\n"), "");
        assert_eq!(
            relayable("Fixed in 2.3.2:\nsee the advisory."),
            "Fixed in 2.3.2:\nsee the advisory."
        );
    }

    #[test]
    fn relay_and_internal_are_keywords_that_cannot_both_say_yes() {
        let c = parse("X-RELAY: yes\n\ntext").unwrap();
        assert_eq!(c.relay, Some(true));
        let c = parse("x-relay: no\n").unwrap();
        assert_eq!(c.relay, Some(false));
        let e = parse("X-INTERNAL: yes\nX-RELAY: yes\n").unwrap_err();
        assert!(e.why.contains("contradict"), "{e}");
    }

    #[test]
    fn quotes_clients_write_without_a_marker_are_cut() {
        let cases: &[(&str, &str, &str)] = &[
            (
                "Outlook: rule, From/Sent/To/Subject, the notification unquoted",
                "Confirmed, a fix is planned.\n\n________________________________\nFrom: Example Security <security@example.org>\nSent: Monday, 9 March 2026 10:00\nTo: Bob\nSubject: [VR-2026-0001] New report\n\nA new vulnerability report has been stored as VR-2026-0001.\nHints (the gateway flags, maintainers decide):\n",
                "Confirmed, a fix is planned.",
            ),
            (
                "Outlook in German, bold labels",
                "Danke.\n\n*Von:* security@example.org\n*Gesendet:* Montag\n*An:* Bob\nquoted\n",
                "Danke.",
            ),
            (
                "-----Original Message-----",
                "Fixed.\n-----Original Message-----\nFrom: x\nquoted\n",
                "Fixed.",
            ),
            (
                "a signature delimiter without its space",
                "Thanks.\n--\nBob Maintainer, bob@example.org\n",
                "Thanks.",
            ),
            (
                "a From: line in prose is not a header block",
                "From: our side, this is fixed.\nThanks.",
                "From: our side, this is fixed.\nThanks.",
            ),
            (
                "a wrote line at the very end",
                "Thanks.\nOn Mon, Bob wrote:",
                "Thanks.",
            ),
        ];
        for (name, text, want) in cases {
            assert_eq!(relayable(text), *want, "{name}");
        }
    }

    #[test]
    fn the_relay_fails_closed() {
        let mut guard = Guard {
            addresses: vec!["bob@example.org".into()],
            fingerprints: vec!["0123456789ABCDEF0123456789ABCDEF01234567".into()],
            ..Guard::default()
        };
        guard.add_team_text(
            "Hints (the gateway flags, maintainers decide):\n  - no_proof_of_concept: no steps\n  | the researcher's own line here\n",
        );
        guard.forget_known_text("the researcher's own line here");
        for (text, why) in [
            (
                "Thanks.\n\nX-INTERNAL: yes\nnot for them",
                "command outside",
            ),
            ("Thanks.\nx-status: fixed", "command outside"),
            ("Write to BOB@example.org", "maintainer address"),
            (
                "key 0123 4567 89AB CDEF 0123  4567 89AB CDEF 0123 4567",
                "fingerprint",
            ),
            (
                "Thanks.\n   HINTS (the gateway flags,   maintainers decide):",
                "gateway's mail to maintainers",
            ),
            ("| - no_proof_of_concept: no steps", "gateway's mail"),
        ] {
            let e = check_relay(text, &guard).unwrap_err();
            assert!(e.contains(why), "{text:?}: {e}");
        }
        for ok in [
            "Thanks, confirmed.",
            "As you wrote:\nthe researcher's own line here",
            "Hints: none",
        ] {
            assert_eq!(check_relay(ok, &guard), Ok(()), "{ok:?}");
        }
    }

    #[test]
    fn plain_text_has_no_commands() {
        let c = parse("Hello: this is prose.\nX-STATUS: accepted\n").unwrap();
        assert!(c.lines.is_empty());
        assert!(c.rest.starts_with("Hello: this is prose."));
        let c = parse("X-INTERNAL: yes\nX-ASSIGNEE:\n").unwrap();
        assert!(c.internal);
        assert_eq!(c.value(Keyword::Assignee), Some((2, "")));
        assert_eq!(c.rest, "");
    }

    #[test]
    fn detail_keywords_are_read() {
        use crate::store::Detail;
        let c = parse("x-cve: CVE-2026-1234\nX-Affected-Versions: 2.0-2.3\n\nThanks").unwrap();
        assert_eq!(
            c.value(Keyword::Detail(Detail::Cve)),
            Some((1, "CVE-2026-1234"))
        );
        assert_eq!(
            c.value(Keyword::Detail(Detail::AffectedVersions)),
            Some((2, "2.0-2.3"))
        );
        assert_eq!(c.rest, "Thanks");
    }
}
