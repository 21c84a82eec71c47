//! Intake: parse the outer message, pull out the envelope facts the rest of the pipeline
//! relies on, and decide whether the message must not be answered (RFC 3834).
//!
//! Intake does no cryptography and no I/O. Every value here comes from the internet
//! and is treated as hostile: nothing panics, lengths are capped, and header values are
//! kept as data, never re-emitted without the outbox's sanitising.

use mail_parser::{HeaderValue, Message, MessageParser, MimeHeaders, PartType};

use crate::config::{Limit, LimitExceeded, Limits};

mod dsn;
pub(crate) use dsn::{Dsn, delivery_status};
use sha2::{Digest, Sha256};

/// Longest header value we keep (subjects, names); longer ones are cut.
pub(crate) const MAX_HEADER_VALUE: usize = 998;

#[derive(Debug, thiserror::Error)]
pub(crate) enum IntakeError {
    #[error("not an email message: no header could be parsed")]
    NotAMessage,
    /// RFC 5322 section 3.6 allows one From field. With two, which one is the sender
    /// cannot be told (clients show one, filters and signatures may check the other),
    /// so the message is refused rather than answered to either.
    #[error(
        "{0} From headers (RFC 5322 allows one): the sender is ambiguous, so it is not answered"
    )]
    SeveralFrom(usize),
    #[error(transparent)]
    Limit(#[from] LimitExceeded),
}

/// A mailbox as written in From/Reply-To: the address lower-cased for lookups.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct Mailbox {
    pub name: Option<String>,
    pub address: String,
}

/// The Autocrypt header (<https://autocrypt.org/level1.html>): a sender's key, offered in
/// every message they send.
#[derive(Debug, Clone)]
pub(crate) struct Autocrypt {
    pub addr: String,
    pub keydata: Vec<u8>,
}

/// What intake learns from the outer headers.
#[derive(Debug, Clone, Default)]
pub(crate) struct Envelope {
    /// Without angle brackets.
    pub message_id: Option<String>,
    pub from: Option<Mailbox>,
    pub reply_to: Option<Mailbox>,
    pub subject: Option<String>,
    pub in_reply_to: Vec<String>,
    pub references: Vec<String>,
    pub autocrypt: Option<Autocrypt>,
    /// SHA-256 of the raw bytes, hex: dedupes the same message delivered twice, and
    /// names messages that have no Message-ID.
    pub content_sha256: String,
}

/// The mailbox an address delivers to, for counting what is sent to it: case-folded,
/// with a sub-address (`+tag`) removed, so that `Victim+1@Example.NET` and
/// `victim@example.net` share one allowance. Case-folding the local part is not what
/// RFC 5321 promises, but it is what mail providers do, and counting two spellings as
/// one only errs on the side of sending less.
///
/// The domain is written as its IDNA A-label (UTS 46): `bücher.example` and
/// `xn--bcher-kva.example` are one domain.
pub(crate) fn normalised_address(address: &str) -> String {
    let lower = address.trim().to_lowercase();
    match lower.rsplit_once('@') {
        Some((local, domain)) => {
            let local = match local.split_once('+') {
                Some((base, _)) if !base.is_empty() => base,
                _ => local,
            };
            format!("{local}@{}", a_label(domain.trim_end_matches('.')))
        }
        None => lower,
    }
}

/// `domain` in ASCII (UTS 46 mapping, then Punycode), lower-case; as given when it is
/// not a valid domain name (it is then counted under that spelling).
fn a_label(domain: &str) -> String {
    idna::domain_to_ascii(domain).unwrap_or_else(|_| domain.to_lowercase())
}

/// The domain an address's mail is counted under for the per-domain rate limit: the
/// registrable domain (one label under its public suffix, from the public suffix
/// list) as an IDNA A-label. `a.example.co.uk` and `b.example.co.uk` are
/// `example.co.uk`, so subdomains do not multiply the allowance; a domain that is
/// itself a public suffix, or has no dot, stands for itself.
pub(crate) fn rate_domain(address: &str) -> String {
    let mailbox = normalised_address(address);
    let domain = mailbox.rsplit_once('@').map_or("", |(_, d)| d);
    psl::domain_str(domain).unwrap_or(domain).to_string()
}

impl Envelope {
    /// The address an answer goes to: Reply-To, else From.
    pub(crate) fn reply_address(&self) -> Option<&Mailbox> {
        self.reply_to.as_ref().or(self.from.as_ref())
    }
}

/// Why a message is recorded but not answered.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum SkipReason {
    AutoSubmitted(String),
    Precedence(String),
    Bounce(&'static str),
    OwnAddress,
}

impl std::fmt::Display for SkipReason {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            SkipReason::AutoSubmitted(v) => {
                write!(f, "auto-submitted message (Auto-Submitted: {v})")
            }
            SkipReason::Precedence(v) => write!(f, "bulk or list mail (Precedence: {v})"),
            SkipReason::Bounce(why) => write!(f, "delivery status notification ({why})"),
            SkipReason::OwnAddress => write!(f, "mail from the gateway's own address"),
        }
    }
}

/// Checks what can be checked on the raw bytes, before parsing: the size of the
/// header section and the longest line.
pub(crate) fn check_raw(raw: &[u8], limits: &Limits) -> Result<(), LimitExceeded> {
    let crlf = raw.windows(4).position(|w| w == b"\r\n\r\n");
    let lf = raw.windows(2).position(|w| w == b"\n\n");
    let header_end = crlf.into_iter().chain(lf).min().unwrap_or(raw.len());
    limits.check(Limit::MaxHeaderBytes, "header bytes", header_end as u64)?;
    let longest = raw
        .split(|&b| b == b'\n')
        .map(<[u8]>::len)
        .max()
        .unwrap_or(0);
    limits.check(
        Limit::MaxLineBytes,
        "bytes in the longest line",
        longest as u64,
    )
}

/// Checks the MIME structure of a parsed message (or decrypted entity): how many
/// parts, and how deeply nested, counting messages attached inside it.
pub(crate) fn check_structure(msg: &Message<'_>, limits: &Limits) -> Result<(), LimitExceeded> {
    let (parts, depth) = structure(msg, 0);
    limits.check(Limit::MaxParts, "parts", parts)?;
    limits.check(Limit::MaxMimeDepth, "levels of nesting", depth)
}

fn structure(msg: &Message<'_>, base_depth: u64) -> (u64, u64) {
    // Parts are numbered in order of appearance, so a parent comes before its children.
    let mut depth = vec![base_depth; msg.parts.len()];
    let mut parts = msg.parts.len() as u64;
    let mut deepest = base_depth;
    for (i, part) in msg.parts.iter().enumerate() {
        let d = depth.get(i).copied().unwrap_or(base_depth);
        deepest = deepest.max(d);
        match &part.body {
            PartType::Multipart(children) => {
                for c in children {
                    if let Some(slot) = depth.get_mut(*c as usize) {
                        *slot = d + 1;
                    }
                }
            }
            PartType::Message(inner) => {
                let (p, dd) = structure(inner, d + 1);
                parts += p;
                deepest = deepest.max(dd);
            }
            _ => {}
        }
    }
    (parts, deepest)
}

/// Parses a raw message. Only bytes with no header at all are refused: everything else
/// gets the parser's best reading, since a sloppy mailer is no reason to lose a report.
pub(crate) fn parse(raw: &[u8]) -> Result<Message<'_>, IntakeError> {
    let msg = MessageParser::default()
        .parse(raw)
        .ok_or(IntakeError::NotAMessage)?;
    // The parser reads almost anything as headers; a message must have at least one
    // header that mail actually carries.
    let known = msg
        .root_part()
        .headers
        .iter()
        .any(|h| !matches!(h.name, mail_parser::HeaderName::Other(_)));
    if !known {
        return Err(IntakeError::NotAMessage);
    }
    let from = msg
        .root_part()
        .headers
        .iter()
        .filter(|h| h.name == mail_parser::HeaderName::From)
        .count();
    if from > 1 {
        return Err(IntakeError::SeveralFrom(from));
    }
    Ok(msg)
}

pub(crate) fn sha256_hex(bytes: &[u8]) -> String {
    hex::encode(Sha256::digest(bytes))
}

/// A short, stable, non-reversible tag for a Message-ID, for logs: the ID itself may
/// carry the reporter's host names or be chosen to smuggle text into logs.
pub(crate) fn log_tag(message_id: Option<&str>, content_sha256: &str) -> String {
    match message_id {
        Some(id) => sha256_hex(id.as_bytes()).chars().take(12).collect(),
        None => format!(
            "sha:{}",
            content_sha256.chars().take(12).collect::<String>()
        ),
    }
}

/// Extracts the envelope facts from a parsed message.
pub(crate) fn envelope(msg: &Message<'_>) -> Envelope {
    Envelope {
        message_id: msg.message_id().map(|s| cap(s.trim())),
        from: msg.from().and_then(first_mailbox),
        reply_to: msg.reply_to().and_then(first_mailbox),
        subject: msg.subject().map(|s| cap(s.trim())),
        in_reply_to: id_list(msg.in_reply_to()),
        references: id_list(msg.references()),
        autocrypt: autocrypt(msg),
        content_sha256: sha256_hex(msg.raw_message()),
    }
}

fn first_mailbox(addr: &mail_parser::Address<'_>) -> Option<Mailbox> {
    let first = addr.first()?;
    let address = first.address()?.trim().to_ascii_lowercase();
    if address.is_empty() || !address.contains('@') || address.len() > 320 {
        return None;
    }
    Some(Mailbox {
        name: first
            .name()
            .map(|n| cap(n.trim()))
            .filter(|n| !n.is_empty()),
        address,
    })
}

pub(crate) fn id_list(value: &HeaderValue<'_>) -> Vec<String> {
    let ids: Vec<String> = match value {
        HeaderValue::Text(t) => vec![t.to_string()],
        HeaderValue::TextList(l) => l.iter().map(|t| t.to_string()).collect(),
        _ => Vec::new(),
    };
    ids.into_iter()
        .map(|s| cap(s.trim()))
        .filter(|s| !s.is_empty())
        .take(100)
        .collect()
}

/// Cuts a header value at [`MAX_HEADER_VALUE`] bytes on a character boundary.
pub(crate) fn cap(s: &str) -> String {
    if s.len() <= MAX_HEADER_VALUE {
        return s.to_string();
    }
    let mut end = MAX_HEADER_VALUE;
    while !s.is_char_boundary(end) {
        end -= 1;
    }
    s.get(..end).unwrap_or_default().to_string()
}

fn autocrypt(msg: &Message<'_>) -> Option<Autocrypt> {
    use base64::Engine as _;
    let raw = msg.header_raw("Autocrypt")?;
    let mut addr = None;
    let mut keydata = None;
    for attr in raw.split(';') {
        let Some((k, v)) = attr.split_once('=') else {
            continue;
        };
        match k.trim() {
            "addr" => addr = Some(v.trim().to_ascii_lowercase()),
            "keydata" => {
                let compact: String = v.chars().filter(|c| !c.is_whitespace()).collect();
                keydata = base64::engine::general_purpose::STANDARD
                    .decode(compact.as_bytes())
                    .ok();
            }
            _ => {}
        }
    }
    Some(Autocrypt {
        addr: addr?,
        keydata: keydata?,
    })
}

/// RFC 3834 section 2 and common practice: never answer automatic mail, list mail,
/// bounces or ourselves, or two gateways (or a gateway and a vacation responder) can
/// mail each other forever.
pub(crate) fn loop_check(
    msg: &Message<'_>,
    env: &Envelope,
    own_address: &str,
) -> Option<SkipReason> {
    // Every Auto-Submitted header counts, not only the first; comments such as
    // "no (sent by a person)" are not part of the keyword.
    for (name, value) in msg.headers_raw() {
        if !name.eq_ignore_ascii_case("Auto-Submitted") {
            continue;
        }
        let keyword = strip_comments(value)
            .split(';')
            .next()
            .unwrap_or_default()
            .trim()
            .to_ascii_lowercase();
        if keyword != "no" {
            return Some(SkipReason::AutoSubmitted(one_line(&keyword, 100)));
        }
    }
    if let Some(v) = msg.header_raw("Precedence") {
        let v = strip_comments(v).trim().to_ascii_lowercase();
        if matches!(v.as_str(), "bulk" | "list" | "junk") {
            return Some(SkipReason::Precedence(one_line(&v, 100)));
        }
    }
    if msg.header_raw("List-Id").is_some() || msg.header_raw("List-Unsubscribe").is_some() {
        return Some(SkipReason::Precedence("list".into()));
    }
    if let Some(rp) = msg.header_raw("Return-Path") {
        let rp = rp.trim();
        if rp == "<>" || rp.is_empty() {
            return Some(SkipReason::Bounce("empty Return-Path"));
        }
    }
    if msg.root_part().content_type().is_some_and(|ct| {
        ct.ctype().eq_ignore_ascii_case("multipart")
            && ct
                .subtype()
                .is_some_and(|s| s.eq_ignore_ascii_case("report"))
    }) {
        return Some(SkipReason::Bounce("multipart/report"));
    }
    let own = own_address.to_ascii_lowercase();
    for mailbox in env.from.iter().chain(env.reply_to.iter()) {
        let local = mailbox.address.split('@').next().unwrap_or_default();
        if local.eq_ignore_ascii_case("mailer-daemon") || local.eq_ignore_ascii_case("postmaster") {
            return Some(SkipReason::Bounce("sent by MAILER-DAEMON"));
        }
        if mailbox.address == own {
            return Some(SkipReason::OwnAddress);
        }
    }
    None
}

/// Header text without RFC 5322 comments (parenthesised, possibly nested).
fn strip_comments(value: &str) -> String {
    let mut depth = 0usize;
    let mut out = String::with_capacity(value.len());
    for c in value.chars() {
        match c {
            '(' => depth += 1,
            ')' if depth > 0 => depth -= 1,
            _ if depth == 0 => out.push(c),
            _ => {}
        }
    }
    out
}

/// Text from a message made one printable line, for a reason, a log field, a header
/// or a table cell: control characters (line breaks included, so no header can be
/// injected) become spaces, runs of whitespace one space, and text over `max`
/// characters is cut, ending in `…`. The one helper for this in the crate.
pub(crate) fn one_line(text: &str, max: usize) -> String {
    let cleaned: String = text
        .chars()
        .map(|c| if c.is_control() { ' ' } else { c })
        .collect();
    let collapsed = cleaned.split_whitespace().collect::<Vec<_>>().join(" ");
    if collapsed.chars().count() <= max {
        return collapsed;
    }
    let mut cut: String = collapsed.chars().take(max.saturating_sub(1)).collect();
    cut.push('…');
    cut
}

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::indexing_slicing)]
mod tests {

    #[test]
    fn addresses_are_counted_per_mailbox() {
        for (given, want) in [
            ("victim@example.net", "victim@example.net"),
            ("Victim+1@Example.NET", "victim@example.net"),
            ("victim+a+b@example.net.", "victim@example.net"),
            ("+only@example.net", "+only@example.net"),
            ("no-at-sign", "no-at-sign"),
        ] {
            assert_eq!(super::normalised_address(given), want, "{given}");
        }
    }

    #[test]
    fn domains_are_counted_by_registrable_domain_in_ascii() {
        for (given, want) in [
            ("a@bücher.example", "xn--bcher-kva.example"),
            ("a@xn--bcher-kva.example", "xn--bcher-kva.example"),
            ("a@BÜCHER.example", "xn--bcher-kva.example"),
            ("a@a.example.co.uk", "example.co.uk"),
            ("b@b.Example.CO.UK.", "example.co.uk"),
            ("c@mail.example.net", "example.net"),
            ("d@localhost", "localhost"),
            ("e@co.uk", "co.uk"),
        ] {
            assert_eq!(super::rate_domain(given), want, "{given}");
        }
    }
    use super::*;

    fn check(headers: &str) -> Option<SkipReason> {
        let raw = format!("{headers}\r\nSubject: x\r\n\r\nbody\r\n");
        let msg = parse(raw.as_bytes()).unwrap();
        let env = envelope(&msg);
        loop_check(&msg, &env, "security@example.org")
    }

    #[test]
    fn loop_filter_table() {
        let from = "From: Alice <alice@example.net>";
        let cases: &[(&str, Option<&str>)] = &[
            (from, None),
            (&format!("{from}\r\nAuto-Submitted: no"), None),
            (
                &format!("{from}\r\nAuto-Submitted: no (sent by a person)"),
                None,
            ),
            (
                &format!("{from}\r\nAuto-Submitted: no\r\nAuto-Submitted: auto-generated"),
                Some("auto-generated"),
            ),
            (
                &format!("{from}\r\nAuto-Submitted: auto-replied\r\n =evil log line"),
                Some("auto-replied"),
            ),
            (
                &format!("{from}\r\nAuto-Submitted: auto-replied"),
                Some("auto-submitted"),
            ),
            (
                &format!("{from}\r\nAuto-Submitted: auto-generated; owner-email=x@y"),
                Some("auto-submitted"),
            ),
            (
                &format!("{from}\r\nPrecedence: bulk"),
                Some("Precedence: bulk"),
            ),
            (
                &format!("{from}\r\nPrecedence: LIST"),
                Some("Precedence: list"),
            ),
            (&format!("{from}\r\nPrecedence: first-class"), None),
            (&format!("{from}\r\nList-Id: <x.example.net>"), Some("list")),
            (
                &format!("Return-Path: <>\r\n{from}"),
                Some("empty Return-Path"),
            ),
            ("From: MAILER-DAEMON@example.net", Some("MAILER-DAEMON")),
            ("From: Security <SECURITY@example.org>", Some("own address")),
            (
                &format!("{from}\r\nReply-To: security@example.org"),
                Some("own address"),
            ),
            ("To: x@example.org", None),
            (
                &format!(
                    "{from}\r\nContent-Type: multipart/report; report-type=delivery-status; boundary=b"
                ),
                Some("multipart/report"),
            ),
        ];
        for (headers, want) in cases {
            let got = check(headers).map(|r| r.to_string());
            match want {
                None => assert_eq!(got, None, "{headers}"),
                Some(w) => assert!(
                    got.as_deref().unwrap_or("").contains(w),
                    "{headers}: {got:?}"
                ),
            }
        }
    }

    #[test]
    fn envelope_fields() {
        let raw = "Message-ID: <abc@example.net>\r\nFrom: \"Alice\" <Alice@Example.NET>\r\nReply-To: bob@example.net\r\nIn-Reply-To: <x@y>\r\nReferences: <a@b> <c@d>\r\nSubject: =?utf-8?q?Caf=C3=A9?=\r\n\r\nhi\r\n";
        let msg = parse(raw.as_bytes()).unwrap();
        let env = envelope(&msg);
        assert_eq!(env.message_id.as_deref(), Some("abc@example.net"));
        assert_eq!(env.from.as_ref().unwrap().address, "alice@example.net");
        assert_eq!(env.from.as_ref().unwrap().name.as_deref(), Some("Alice"));
        assert_eq!(env.reply_address().unwrap().address, "bob@example.net");
        assert_eq!(env.subject.as_deref(), Some("Café"));
        assert_eq!(env.in_reply_to, ["x@y"]);
        assert_eq!(env.references, ["a@b", "c@d"]);
        assert_eq!(env.content_sha256.len(), 64);
    }

    #[test]
    fn raw_and_structure_limits() {
        let limits = Limits {
            max_header_bytes: 100,
            max_line_bytes: 50,
            max_parts: 5,
            max_mime_depth: 2,
            ..Limits::default()
        };
        assert!(check_raw(b"From: a@b.c\r\n\r\nshort\r\n", &limits).is_ok());
        let long_header = format!(
            "From: a@b.c\r\n{}\r\nbody",
            format!("X: {}\r\n", "y".repeat(40)).repeat(3)
        );
        let e = check_raw(long_header.as_bytes(), &limits).unwrap_err();
        assert_eq!(e.key, Limit::MaxHeaderBytes);
        let long_line = format!("From: a@b.c\n\n{}\n", "z".repeat(60));
        assert_eq!(
            check_raw(long_line.as_bytes(), &limits).unwrap_err().key,
            Limit::MaxLineBytes
        );

        let mut many =
            String::from("From: a@b.c\r\nContent-Type: multipart/mixed; boundary=b\r\n\r\n");
        for _ in 0..10 {
            many.push_str("--b\r\nContent-Type: text/plain\r\n\r\nx\r\n");
        }
        many.push_str("--b--\r\n");
        let msg = parse(many.as_bytes()).unwrap();
        assert_eq!(
            check_structure(&msg, &limits).unwrap_err().key,
            Limit::MaxParts
        );

        let mut deep = String::from("From: a@b.c\r\n");
        for level in 0..4 {
            deep.push_str(&format!(
                "Content-Type: multipart/mixed; boundary=b{level}\r\n\r\n--b{level}\r\n"
            ));
        }
        deep.push_str("Content-Type: text/plain\r\n\r\nx\r\n");
        let msg = parse(deep.as_bytes()).unwrap();
        assert_eq!(
            check_structure(&msg, &limits).unwrap_err().key,
            Limit::MaxMimeDepth
        );
    }

    #[test]
    fn two_from_headers_are_refused() {
        let raw =
            b"From: alice@example.net\r\nFrom: mallory@evil.example\r\nSubject: x\r\n\r\nhi\r\n";
        let e = parse(raw).unwrap_err();
        assert!(matches!(e, IntakeError::SeveralFrom(2)), "{e}");
        assert!(e.to_string().contains("RFC 5322 allows one"), "{e}");
        // A From inside an attached message is that message's, not a second one.
        let forwarded = b"From: alice@example.net\r\nContent-Type: message/rfc822\r\n\r\nFrom: bob@example.net\r\n\r\nhi\r\n";
        assert!(parse(forwarded).is_ok());
    }

    #[test]
    fn garbage_is_not_a_message_and_caps_hold() {
        assert!(parse(b"").is_err());
        let long = format!("From: a@b.c\r\nSubject: {}\r\n\r\n", "é".repeat(2000));
        let msg = parse(long.as_bytes()).unwrap();
        let env = envelope(&msg);
        assert!(env.subject.unwrap().len() <= MAX_HEADER_VALUE);
    }
}
