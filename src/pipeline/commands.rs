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
    Report,
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
        ("X-REPORT", Keyword::Report),
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

/// Reads the command lines at the top of `text`: blank lines before them are
/// skipped, and the first line that is not `X-WORD: value` ends them. A line that
/// looks like a command but names no keyword, a keyword given twice, or a value
/// that is empty is an error for that line.
pub(super) fn parse(text: &str) -> Result<Commands, LineError> {
    let mut out = Commands::default();
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
            return Err(err(format!(
                "unknown keyword {name} (known: {})",
                known.join(", ")
            )));
        };
        if out.lines.iter().any(|(_, k, _)| *k == keyword) {
            return Err(err(format!("{name} is given twice")));
        }
        if value.is_empty() && keyword != Keyword::Assignee {
            return Err(err(format!("{name} has no value")));
        }
        if keyword == Keyword::Internal {
            out.internal = match value.to_ascii_lowercase().as_str() {
                "yes" | "true" => true,
                "no" | "false" => false,
                _ => return Err(err(format!("{name} takes yes or no, not {value:?}"))),
            };
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
    Ok(out)
}

/// What of a maintainer's text may go to the researcher: the text down to the
/// maintainer's own signature block (`-- `), without quoted lines (`>`) and the
/// "On …, … wrote:" line that introduces them. A reply to a notification quotes it,
/// and a notification carries what the researcher must not see (hints, scope
/// guesses, other maintainers' addresses); a signature block carries the
/// maintainer's address.
pub(super) fn relayable(text: &str) -> String {
    let lines: Vec<&str> = text
        .lines()
        .take_while(|l| l.trim_end_matches('\r') != "-- ")
        .collect();
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
                .is_some_and(|next| quoted(next) || next.trim().is_empty());
        if !introduces_quote {
            kept.push(line);
        }
    }
    kept.join("\n").trim().to_string()
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
    fn plain_text_has_no_commands() {
        let c = parse("Hello: this is prose.\nX-STATUS: accepted\n").unwrap();
        assert!(c.lines.is_empty());
        assert!(c.rest.starts_with("Hello: this is prose."));
        let c = parse("X-INTERNAL: yes\nX-ASSIGNEE:\n").unwrap();
        assert!(c.internal);
        assert_eq!(c.value(Keyword::Assignee), Some((2, "")));
        assert_eq!(c.rest, "");
    }
}
