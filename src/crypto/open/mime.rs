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

/// Bytes in a named charset to text; UTF-8 when unnamed or valid, lossy as a last
/// resort so a wrong label never loses a report.
pub(super) fn decode_charset(bytes: &[u8], charset: Option<&str>) -> String {
    if let Ok(s) = std::str::from_utf8(bytes) {
        return s.to_string();
    }
    if let Some(decoder) =
        charset.and_then(|c| mail_parser::decoders::charsets::map::charset_decoder(c.as_bytes()))
    {
        return decoder(bytes);
    }
    String::from_utf8_lossy(bytes).into_owned()
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn crlf_canonicalisation() {
        assert_eq!(canonical_crlf(b"a\nb\r\nc\n"), b"a\r\nb\r\nc\r\n");
        assert_eq!(canonical_crlf(b""), b"");
    }
}
