//! MIME helpers: parts, their bytes, charsets and the canonical form for signing.

use mail_parser::{Message, MessagePart, MimeHeaders, PartType};

pub(super) fn children<'m>(
    msg: &'m Message<'m>,
    part: &MessagePart<'_>,
) -> Vec<&'m MessagePart<'m>> {
    match &part.body {
        PartType::Multipart(ids) => ids.iter().filter_map(|id| msg.part(*id)).collect(),
        _ => Vec::new(),
    }
}

pub(super) fn is_type(part: &MessagePart<'_>, t: &str, s: &str) -> bool {
    part.content_type().is_some_and(|c| {
        c.ctype().eq_ignore_ascii_case(t) && c.subtype().is_some_and(|x| x.eq_ignore_ascii_case(s))
    })
}

pub(super) fn contents_of<'p>(part: &'p MessagePart<'_>) -> &'p [u8] {
    match &part.body {
        PartType::Text(t) | PartType::Html(t) => t.as_bytes(),
        PartType::Binary(b) | PartType::InlineBinary(b) => b,
        PartType::Message(m) => m.raw_message(),
        PartType::Multipart(_) => &[],
    }
}

/// A text part's body after undoing the transfer encoding but before charset
/// conversion: the bytes a clearsignature was made over.
pub(super) fn transfer_decoded<'m>(
    msg: &'m Message<'_>,
    part: &MessagePart<'_>,
) -> std::borrow::Cow<'m, [u8]> {
    use mail_parser::decoders::{base64::base64_decode, quoted_printable::quoted_printable_decode};
    let Some(raw) = msg
        .raw_message()
        .get(part.offset_body as usize..part.offset_end as usize)
    else {
        return std::borrow::Cow::Owned(contents_of(part).to_vec());
    };
    match part.encoding {
        mail_parser::Encoding::None => std::borrow::Cow::Borrowed(raw),
        mail_parser::Encoding::Base64 => base64_decode(raw)
            .map(std::borrow::Cow::Owned)
            .unwrap_or_else(|| std::borrow::Cow::Owned(contents_of(part).to_vec())),
        mail_parser::Encoding::QuotedPrintable => quoted_printable_decode(raw)
            .map(std::borrow::Cow::Owned)
            .unwrap_or_else(|| std::borrow::Cow::Owned(contents_of(part).to_vec())),
    }
}

/// Bytes in a named charset to text, the way mail-parser reads a text part: in the
/// named charset when it is one we know (ISO-8859-15 text is not UTF-8, even where
/// its bytes happen to be valid UTF-8); UTF-8 when unnamed, named UTF-8 or ASCII, or
/// unknown; lossy as a last resort so a wrong label never loses a report.
pub(super) fn decode_charset(bytes: &[u8], charset: Option<&str>) -> String {
    let named = charset
        .map(|c| c.trim().trim_matches('"').to_ascii_lowercase())
        .filter(|c| !matches!(c.as_str(), "utf-8" | "utf8" | "us-ascii" | "ascii"));
    if let Some(decoder) = named
        .as_deref()
        .and_then(|c| mail_parser::decoders::charsets::map::charset_decoder(c.as_bytes()))
    {
        return decoder(bytes);
    }
    String::from_utf8_lossy(bytes).into_owned()
}

/// `Some(delsp)` when a text part is `format=flowed` (RFC 3676), with whether its
/// `delsp=yes`.
pub(super) fn flowed(part: &MessagePart<'_>) -> Option<bool> {
    let ct = part.content_type()?;
    let format = ct.attribute("format")?;
    if !format.trim().eq_ignore_ascii_case("flowed") {
        return None;
    }
    Some(
        ct.attribute("delsp")
            .is_some_and(|d| d.trim().eq_ignore_ascii_case("yes")),
    )
}

/// Joins the lines of a `format=flowed` text (RFC 3676 section 4): a line that ends
/// in a space continues on the next line of the same quote depth (with that space
/// removed when `delsp`), space-stuffing is undone, and the signature separator
/// `-- ` stays a line of its own. Quoted lines come out as `>` per level and a
/// space, so that quotes are still recognised as quotes. Mail clients (Thunderbird)
/// wrap long lines this way; read unjoined, a wrapped command line would be cut at
/// the wrap and its second half taken as text.
pub(super) fn unflow(text: &str, delsp: bool) -> String {
    let mut out: Vec<String> = Vec::new();
    // The paragraph being joined: its quote depth and its text so far.
    let mut open: Option<(usize, String)> = None;
    for raw in text.split('\n') {
        let raw = raw.strip_suffix('\r').unwrap_or(raw);
        let depth = raw.chars().take_while(|c| *c == '>').count();
        let body = raw.get(depth..).unwrap_or_default();
        // Space-stuffing: one leading space was added by the sender.
        let body = body.strip_prefix(' ').unwrap_or(body);
        let separator = body == "-- ";
        let continues = !separator && body.ends_with(' ');
        let piece = if continues && delsp {
            body.strip_suffix(' ').unwrap_or(body)
        } else {
            body
        };
        match open.take() {
            Some((d, mut joined)) if d == depth && !separator => {
                joined.push_str(piece);
                open = Some((d, joined));
            }
            other => {
                if let Some((d, joined)) = other {
                    out.push(quoted(d, &joined));
                }
                open = Some((depth, piece.to_string()));
            }
        }
        if !continues && let Some((d, joined)) = open.take() {
            out.push(quoted(d, &joined));
        }
    }
    if let Some((d, joined)) = open {
        out.push(quoted(d, &joined));
    }
    out.join("\n")
}

fn quoted(depth: usize, text: &str) -> String {
    if depth == 0 {
        text.to_string()
    } else {
        format!("{} {text}", ">".repeat(depth))
    }
}

/// Canonical form for signing (RFC 3156 section 5): every line ends in CRLF.
pub fn canonical_crlf(bytes: &[u8]) -> Vec<u8> {
    let mut out = Vec::with_capacity(bytes.len() + bytes.len() / 32);
    let mut prev = 0u8;
    for &b in bytes {
        if b == b'\n' && prev != b'\r' {
            out.push(b'\r');
        }
        out.push(b);
        prev = b;
    }
    out
}

/// The bytes GnuPG hashes for a text-mode signature (type 0x01) over `bytes`, and so
/// what KMail, Enigmail, Mutt and GpgOL sign a `multipart/signed` entity as: every line
/// (up to an LF) loses the carriage returns that end it, and each LF becomes CRLF; a
/// carriage return inside a line is data and stays. RFC 3156 section 5 canonicalises
/// line ends and nothing else. sequoia's own text mode also takes a lone CR for a line
/// end, so a file holding one made GnuPG's good signature "bad" (issue 25). Checked
/// against GnuPG 2.2: `a\rb\n` signs as `a\rb\r\n`, `a\r\r\n` as `a\r\n`, `a\r` at the
/// end as `a`, and trailing spaces and tabs stay.
pub(super) fn gnupg_text_canonical(bytes: &[u8]) -> Vec<u8> {
    let mut out = Vec::with_capacity(bytes.len() + bytes.len() / 32);
    let mut lines = bytes.split(|b| *b == b'\n').peekable();
    while let Some(line) = lines.next() {
        let end = line.iter().rposition(|b| *b != b'\r').map_or(0, |i| i + 1);
        out.extend_from_slice(line.get(..end).unwrap_or_default());
        if lines.peek().is_some() {
            out.extend_from_slice(b"\r\n");
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn text_is_read_in_its_named_charset() {
        // "Grüße, 5 €" in ISO-8859-15: 0xFC, 0xDF, 0xA4.
        let latin9 = b"Gr\xfc\xdfe, 5 \xa4";
        assert_eq!(
            decode_charset(latin9, Some("ISO-8859-15")),
            "Gr\u{fc}\u{df}e, 5 \u{20ac}"
        );
        assert_eq!(
            decode_charset(latin9, Some("\"iso-8859-15\"")),
            "Gr\u{fc}\u{df}e, 5 \u{20ac}"
        );
        // Bytes that are valid UTF-8 are still read in the named charset.
        assert_eq!(
            decode_charset(b"\xc3\xa4", Some("iso-8859-1")),
            "\u{c3}\u{a4}"
        );
        assert_eq!(decode_charset("caf\u{e9}".as_bytes(), None), "caf\u{e9}");
        assert_eq!(
            decode_charset("caf\u{e9}".as_bytes(), Some("us-ascii")),
            "caf\u{e9}"
        );
        assert_eq!(decode_charset(b"a\xffb", Some("x-unknown")), "a\u{fffd}b");
    }

    #[test]
    fn crlf_canonicalisation() {
        assert_eq!(canonical_crlf(b"a\nb\r\nc\n"), b"a\r\nb\r\nc\r\n");
        assert_eq!(canonical_crlf(b""), b"");
    }

    #[test]
    fn text_mode_canonicalisation_is_gnupgs() {
        // Each row was signed with `gpg --textmode --detach-sign` over the input and
        // verified over the other spellings (GnuPG 2.2.40).
        let cases: &[(&[u8], &[u8])] = &[
            (b"a\nb\r\nc\n", b"a\r\nb\r\nc\r\n"),
            (b"a\rb\n", b"a\rb\r\n"),
            (b"a\r\rb", b"a\r\rb"),
            (b"a\r\r\nb", b"a\r\nb"),
            (b"a\r\r\r\n", b"a\r\n"),
            (b"a\r", b"a"),
            (b"abc  \n", b"abc  \r\n"),
            (b"abc\t\r\n", b"abc\t\r\n"),
            (b"\r\n\n", b"\r\n\r\n"),
            (b"\r", b""),
            (b"", b""),
        ];
        for (input, want) in cases {
            assert_eq!(
                gnupg_text_canonical(input),
                *want,
                "{:?}",
                String::from_utf8_lossy(input)
            );
        }
    }
}

#[cfg(test)]
mod flowed_tests {
    use super::unflow;

    #[test]
    fn flowed_lines_are_joined() {
        let cases: &[(&str, &str, bool, &str)] = &[
            (
                "a wrapped command line is one line again",
                "X-NOTE: reproduced on 2.3.1 with the default \r\nconfiguration, assigning to auth\r\n\r\nThanks.\r\n",
                false,
                "X-NOTE: reproduced on 2.3.1 with the default configuration, assigning to auth\n\nThanks.\n",
            ),
            (
                "DelSp=yes removes the space at the wrap",
                "a long wo \r\nrd here\r\n",
                true,
                "a long word here\n",
            ),
            (
                "space-stuffed lines lose one space; quotes keep their depth",
                " >not a quote\r\n> quoted and \r\n> wrapped\r\n>> deeper\r\nplain\r\n",
                false,
                ">not a quote\n> quoted and wrapped\n>> deeper\nplain\n",
            ),
            (
                "a change of quote depth ends a paragraph",
                "> quoted \r\nnot quoted\r\n",
                false,
                "> quoted \nnot quoted\n",
            ),
            (
                "the signature separator stays a line",
                "text \r\n-- \r\nBob\r\n",
                false,
                "text \n-- \nBob\n",
            ),
            ("LF line ends", "one \ntwo\n", false, "one two\n"),
        ];
        for (name, text, delsp, want) in cases {
            assert_eq!(unflow(text, *delsp), *want, "{name}");
        }
    }
}
